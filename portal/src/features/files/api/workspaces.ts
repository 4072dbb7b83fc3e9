// Workspaces and their files over REST (WorkspaceService), in TanStack Query.
// Every change invalidates the workspace's keys (its listing, files, audit).
import {
  queryOptions,
  useInfiniteQuery,
  useMutation,
  useQueries,
  useQuery,
  useQueryClient,
  type InfiniteData,
  type QueryClient,
} from "@tanstack/react-query";
import { api, call } from "@/lib/api/client";
import type { ApiError } from "@/lib/api/errors";
import type {
  AuditEvent,
  FileEntry,
  ReadFileResponse,
  Workspace,
  WriteFileResponse,
} from "@/lib/api/types";
import { queryKeys } from "@/lib/queryKeys";
import { textToBase64 } from "../lib/content";

interface WorkspacePage {
  workspaces?: Workspace[];
  nextPageToken?: string;
}

interface AuditPage {
  events?: AuditEvent[];
  nextPageToken?: string;
}

export function useWorkspaces() {
  return useInfiniteQuery<WorkspacePage, ApiError, InfiniteData<WorkspacePage, string>, readonly unknown[], string>({
    queryKey: queryKeys.workspaces.list,
    queryFn: ({ pageParam }) =>
      call(api.GET("/api/workspaces", { params: { query: { page_size: 50, page_token: pageParam || undefined } } })),
    initialPageParam: "",
    getNextPageParam: (last) => last.nextPageToken || undefined,
  });
}

export function useCreateWorkspace() {
  const queryClient = useQueryClient();
  return useMutation<Workspace, ApiError, { name: string; requestId: string }>({
    mutationFn: async ({ name, requestId }) => {
      const body = await call(api.POST("/api/workspaces", { body: { name, requestId } }));
      return body.workspace ?? {};
    },
    onSuccess: (workspace) => {
      if (workspace.id) queryClient.setQueryData(queryKeys.workspaces.detail(workspace.id), workspace);
      void queryClient.invalidateQueries({ queryKey: queryKeys.workspaces.list });
    },
  });
}

export function useWorkspace(workspaceId: string) {
  return useQuery<Workspace, ApiError>({
    queryKey: queryKeys.workspaces.detail(workspaceId),
    queryFn: async () => {
      const body = await call(
        api.GET("/api/workspaces/{workspace_id}", { params: { path: { workspace_id: workspaceId } } }),
      );
      return body.workspace ?? {};
    },
    enabled: workspaceId !== "",
  });
}

export interface Listing {
  entries: FileEntry[];
  version: number;
}

function fetchListing(workspaceId: string, path: string): Promise<Listing> {
  return call(
    api.GET("/api/workspaces/{workspace_id}/files", {
      params: { path: { workspace_id: workspaceId }, query: path ? { path } : {} },
    }),
  ).then((body) => ({ entries: body.entries ?? [], version: Number(body.version ?? 0) }));
}

/** The listings of the root and of every expanded directory. */
export function useListings(workspaceId: string, dirs: readonly string[]) {
  return useQueries({
    queries: ["", ...dirs].map((path) =>
      queryOptions<Listing, ApiError>({
        queryKey: queryKeys.workspaces.files(workspaceId, path),
        queryFn: () => fetchListing(workspaceId, path),
        enabled: workspaceId !== "",
        retry: false,
      }),
    ),
  });
}

export function useFile(workspaceId: string, path: string | null) {
  return useQuery<ReadFileResponse, ApiError>({
    queryKey: queryKeys.workspaces.file(workspaceId, path ?? ""),
    queryFn: () =>
      call(
        api.GET("/api/workspaces/{workspace_id}/file", {
          params: { path: { workspace_id: workspaceId }, query: { path: path ?? "" } },
        }),
      ),
    enabled: workspaceId !== "" && !!path,
    retry: false,
  });
}

/** Read the file as it is now (for the conflict dialog), through the same cache. */
export function fetchCurrentFile(queryClient: QueryClient, workspaceId: string, path: string) {
  return queryClient.fetchQuery<ReadFileResponse, ApiError>({
    queryKey: queryKeys.workspaces.file(workspaceId, path),
    queryFn: () =>
      call(
        api.GET("/api/workspaces/{workspace_id}/file", {
          params: { path: { workspace_id: workspaceId }, query: { path } },
        }),
      ),
    staleTime: 0,
  });
}

export function useAudit(workspaceId: string) {
  return useInfiniteQuery<AuditPage, ApiError, InfiniteData<AuditPage, string>, readonly unknown[], string>({
    queryKey: queryKeys.workspaces.audit(workspaceId),
    queryFn: ({ pageParam }) =>
      call(
        api.GET("/api/workspaces/{workspace_id}/audit", {
          params: { path: { workspace_id: workspaceId }, query: { page_size: 25, page_token: pageParam || undefined } },
        }),
      ),
    initialPageParam: "",
    getNextPageParam: (last) => last.nextPageToken || undefined,
    enabled: workspaceId !== "",
  });
}

/** After any change: the workspace, its listings, files and audit are stale; so is the list. */
export function invalidateWorkspace(queryClient: QueryClient, workspaceId: string) {
  void queryClient.invalidateQueries({ queryKey: queryKeys.workspaces.detail(workspaceId) });
  void queryClient.invalidateQueries({ queryKey: queryKeys.workspaces.list });
}

function requestId(): string {
  return crypto.randomUUID();
}

export interface WriteVars {
  path: string;
  text: string;
  expectedVersion: number;
}

export function useWriteFile(workspaceId: string) {
  const queryClient = useQueryClient();
  return useMutation<WriteFileResponse, ApiError, WriteVars>({
    mutationFn: ({ path, text, expectedVersion }) =>
      call(
        api.PUT("/api/workspaces/{workspace_id}/file", {
          params: { path: { workspace_id: workspaceId } },
          body: { path, content: textToBase64(text), expectedVersion: String(expectedVersion), requestId: requestId() },
        }),
      ),
    onSuccess: (result, { path, text }) => {
      // What was written is what the file now holds: no need to read it back.
      queryClient.setQueryData<ReadFileResponse>(queryKeys.workspaces.file(workspaceId, path), {
        content: textToBase64(text),
        version: result.version,
        file: result.file,
      });
      if (result.workspace) queryClient.setQueryData(queryKeys.workspaces.detail(workspaceId), result.workspace);
    },
    onSettled: () => {
      void queryClient.invalidateQueries({
        queryKey: queryKeys.workspaces.detail(workspaceId),
        predicate: (query) => query.queryKey[3] !== "file",
      });
      void queryClient.invalidateQueries({ queryKey: queryKeys.workspaces.list });
    },
  });
}

export interface RenameVars {
  path: string;
  newPath: string;
  expectedVersion: number;
}

export function useRenameFile(workspaceId: string) {
  const queryClient = useQueryClient();
  return useMutation<{ version: number }, ApiError, RenameVars>({
    mutationFn: async ({ path, newPath, expectedVersion }) => {
      const body = await call(
        api.POST("/api/workspaces/{workspace_id}/files:rename", {
          params: { path: { workspace_id: workspaceId } },
          body: { path, newPath, expectedVersion: String(expectedVersion), requestId: requestId() },
        }),
      );
      return { version: Number(body.version ?? 0) };
    },
    onSettled: () => invalidateWorkspace(queryClient, workspaceId),
  });
}

export interface DeleteVars {
  path: string;
  expectedVersion: number;
}

export function useDeleteFile(workspaceId: string) {
  const queryClient = useQueryClient();
  return useMutation<{ version: number }, ApiError, DeleteVars>({
    mutationFn: async ({ path, expectedVersion }) => {
      const body = await call(
        api.DELETE("/api/workspaces/{workspace_id}/file", {
          params: {
            path: { workspace_id: workspaceId },
            query: { path, expected_version: String(expectedVersion), request_id: requestId() },
          },
        }),
      );
      return { version: Number(body.version ?? 0) };
    },
    onSuccess: (_, { path }) => queryClient.removeQueries({ queryKey: queryKeys.workspaces.file(workspaceId, path) }),
    onSettled: () => invalidateWorkspace(queryClient, workspaceId),
  });
}
