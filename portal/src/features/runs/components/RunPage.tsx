// `/runs/:runId`: header, timeline and composer; the rail shows what needs the person.
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect } from "react";
import { useParams } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { HumanLoopCard } from "@/features/human-loop";
import { Rail } from "@/components/Rail";
import { Spinner } from "@/components/Spinner";
import { toApiError } from "@/lib/api/errors";
import { queryKeys } from "@/lib/queryKeys";
import type { HumanLoopItem } from "@/lib/runLog";
import { resumeRunLog, useRunConnection, useRunLog } from "@/lib/runLogStore";
import { useRun } from "../api/runs";
import { isFinished } from "../logic/runInfo";
import { Composer } from "./Composer";
import { RunHeader } from "./RunHeader";
import { RunRail } from "./RunRail";
import { Timeline } from "./Timeline";

export function RunPage() {
  const { runId = "" } = useParams();
  // Keyed by run: switching runs starts afresh (scroll, folds, composer text).
  return <RunView key={runId} runId={runId} />;
}

function RunView({ runId }: { runId: string }) {
  const queryClient = useQueryClient();
  const log = useRunLog(runId);
  const connection = useRunConnection(runId);
  const run = useRun(runId);
  const status = log.status ?? run.data?.status ?? null;

  // The header's REST fields (executor, thread, usage, times) follow the log's status.
  useEffect(() => {
    if (log.status !== null) void queryClient.invalidateQueries({ queryKey: queryKeys.runs.detail(runId), exact: true });
  }, [log.status, runId, queryClient]);

  // The log ended with the run, but the run goes on (a follow-up sent elsewhere): follow it again.
  const serverStatus = run.data?.status;
  useEffect(() => {
    if (connection.state === "ended" && serverStatus && !isFinished(serverStatus) && isFinished(log.status)) {
      resumeRunLog(runId);
    }
  }, [connection.state, serverStatus, log.status, runId]);

  // A request in any state: the form while pending, then who answered what and when.
  // The rail answers; the timeline shows the same request without buttons.
  const renderHumanLoop = useCallback((item: HumanLoopItem) => <HumanLoopCard runId={runId} item={item} />, [runId]);
  const renderTimelineHumanLoop = useCallback(
    (item: HumanLoopItem) => (
      <HumanLoopCard runId={runId} item={item} answerElsewhere="Waiting for your answer under Needs you." />
    ),
    [runId],
  );

  const streamFailed = connection.error !== null && connection.state === "ended";
  return (
    <section className="page run-page">
      <RunHeader runId={runId} run={run.data} status={status} connection={connection.state} usage={log.usage} />
      {run.error && <ErrorBanner error={toApiError(run.error)} onRetry={() => void run.refetch()} />}
      {streamFailed && connection.error && <ErrorBanner error={connection.error} onRetry={() => resumeRunLog(runId)} />}
      <Timeline
        items={log.items}
        lastSeq={log.lastSeq}
        renderHumanLoop={renderTimelineHumanLoop}
        empty={
          <p className="timeline__empty">
            {connection.state === "ended" ? "This run has no events." : <Spinner label="Loading events…" />}
          </p>
        }
      />
      <Composer runId={runId} run={run.data} status={status} />
      <Rail>
        <RunRail runId={runId} run={run.data} log={log} renderHumanLoop={renderHumanLoop} />
      </Rail>
    </section>
  );
}
