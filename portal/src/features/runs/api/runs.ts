// The runs feature's server state: TanStack Query hooks over the typed client.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "@/lib/api/client";
import type { CreateRunRequest, Run, RunStatus } from "@/lib/api/types";
import { queryKeys } from "@/lib/queryKeys";
import { resumeRunLog } from "@/lib/runLogStore";
import { isFinished } from "../logic/runInfo";

export interface RunsFilter {
  status: RunStatus | null;
  workspaceId: string;
  pageToken: string;
}

const PAGE_SIZE = 25;

/** A page of the tenant's runs, newest first; polled fast while any shown run is unfinished. */
export function useRuns(filter: RunsFilter) {
  return useQuery({
    queryKey: queryKeys.runs.list({ ...filter }),
    queryFn: () =>
      call(
        api.GET("/api/runs", {
          params: {
            query: {
              page_size: PAGE_SIZE,
              ...(filter.pageToken ? { page_token: filter.pageToken } : {}),
              ...(filter.status ? { status: [filter.status] } : {}),
              ...(filter.workspaceId ? { workspace_id: filter.workspaceId } : {}),
            },
          },
        }),
      ),
    placeholderData: (previous) => previous,
    refetchInterval: (query) => {
      const runs = query.state.data?.runs ?? [];
      return runs.some((run) => !isFinished(run.status)) ? 2000 : 10_000;
    },
  });
}

/** One run (header and info); polled slowly while it is unfinished. */
export function useRun(runId: string) {
  return useQuery({
    queryKey: queryKeys.runs.detail(runId),
    queryFn: () => call(api.GET("/api/runs/{run_id}", { params: { path: { run_id: runId } } })).then((r) => r.run ?? {}),
    refetchInterval: (query) => (query.state.data && isFinished(query.state.data.status) ? false : 10_000),
  });
}

/** Workspaces for the new-run form's picker and the runs filter. */
export function useWorkspaceChoices() {
  return useQuery({
    queryKey: queryKeys.workspaces.choices,
    queryFn: () =>
      call(api.GET("/api/workspaces", { params: { query: { page_size: 200 } } })).then((r) => r.workspaces ?? []),
    staleTime: 30_000,
  });
}

export function useCreateRun() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateRunRequest) => call(api.POST("/api/runs", { body })).then((r) => r.run ?? {}),
    onSuccess: (run: Run) => {
      if (run.id) queryClient.setQueryData(queryKeys.runs.detail(run.id), run);
      void queryClient.invalidateQueries({ queryKey: queryKeys.runs.all });
      void queryClient.invalidateQueries({ queryKey: queryKeys.workspaces.all });
    },
  });
}

function useRunAction<V>(runId: string, action: (vars: V) => Promise<Run>) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: action,
    onSuccess: (run) => {
      queryClient.setQueryData(queryKeys.runs.detail(runId), run);
      void queryClient.invalidateQueries({ queryKey: queryKeys.runs.all });
    },
  });
}

export function useStopRun(runId: string) {
  return useRunAction(runId, (reason: string) =>
    call(api.POST("/api/runs/{run_id}/stop", { params: { path: { run_id: runId } }, body: { reason } })).then(
      (r) => r.run ?? {},
    ),
  );
}

export function useInterruptRun(runId: string) {
  return useRunAction(runId, (reason: string) =>
    call(api.POST("/api/runs/{run_id}:interrupt", { params: { path: { run_id: runId } }, body: { reason } })).then(
      (r) => r.run ?? {},
    ),
  );
}

export interface SendMessageVars {
  text: string;
  requestId: string;
}

/** Steer the running turn, or follow up a finished persistent run (then the log's stream resumes). */
export function useSendMessage(runId: string) {
  return useRunAction(runId, async ({ text, requestId }: SendMessageVars) => {
    const response = await call(
      api.POST("/api/runs/{run_id}/messages", { params: { path: { run_id: runId } }, body: { text, requestId } }),
    );
    // A follow-up starts the run again: its log, which had ended, goes on.
    resumeRunLog(runId);
    return response.run ?? {};
  });
}
