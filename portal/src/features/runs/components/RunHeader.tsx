// The run's header: who and what it is, how it is doing, and Stop / Interrupt.
import { Link } from "react-router-dom";
import { ConnectionIndicator } from "@/components/ConnectionIndicator";
import { ErrorBanner } from "@/components/ErrorBanner";
import { StatusBadge } from "@/components/StatusBadge";
import { Duration } from "@/components/Time";
import { toApiError } from "@/lib/api/errors";
import type { Run, RunStatus, UsageUpdated } from "@/lib/api/types";
import { formatCount } from "@/lib/format";
import type { ConnectionState } from "@/lib/sse";
import { useInterruptRun, useStopRun } from "../api/runs";
import { useNow } from "../hooks/useNow";
import { canInterrupt, int64, isFinished, runDurationMs } from "../logic/runInfo";

export interface RunHeaderProps {
  runId: string;
  run: Run | undefined;
  status: RunStatus | null;
  connection: ConnectionState;
  usage: UsageUpdated | null;
}

export function RunHeader({ runId, run, status, connection, usage }: RunHeaderProps) {
  const stop = useStopRun(runId);
  const interrupt = useInterruptRun(runId);
  const finished = isFinished(status);
  const now = useNow(1000, !finished);
  const tokens = Math.max(int64(run?.usage?.totalTokens), int64(usage?.total?.totalTokens));
  const actionError = stop.error ?? interrupt.error;
  return (
    <header className="run-header">
      <div className="run-header__top">
        <h1 className="mono run-header__id">{runId}</h1>
        <StatusBadge status={status} live />
        <ConnectionIndicator state={connection} />
        <span className="run-header__spacer" />
        <button
          type="button"
          onClick={() => {
            interrupt.reset();
            stop.mutate("stopped from the workbench");
          }}
          disabled={finished || status === null || stop.isPending}
          title={finished ? "The run has finished." : "End the run: interrupt the agent and release its executor."}
        >
          Stop
        </button>
        <button
          type="button"
          onClick={() => {
            stop.reset();
            interrupt.mutate("interrupted from the workbench");
          }}
          disabled={!canInterrupt(status) || interrupt.isPending}
          title={canInterrupt(status) ? "Stop the running turn; the run stays open for messages." : "No turn is running."}
        >
          Interrupt
        </button>
      </div>
      <dl className="run-meta">
        {run?.workspaceId && (
          <div>
            <dt>workspace</dt>
            <dd>
              <Link className="mono" to={`/workspaces/${encodeURIComponent(run.workspaceId)}`}>
                {run.workspaceId}
              </Link>
            </dd>
          </div>
        )}
        {run?.model && (
          <div>
            <dt>model</dt>
            <dd>{run.model}</dd>
          </div>
        )}
        <div>
          <dt>tokens</dt>
          <dd>{tokens > 0 ? formatCount(tokens) : "—"}</dd>
        </div>
        <div>
          <dt>duration</dt>
          <dd>{run ? <Duration ms={runDurationMs({ ...run, status: status ?? run.status }, now)} /> : "—"}</dd>
        </div>
        <div>
          <dt>executor</dt>
          <dd className="mono">{run?.executorId || "—"}</dd>
        </div>
        <div>
          <dt>thread</dt>
          <dd className="mono">{run?.threadId || "—"}</dd>
        </div>
        <div>
          <dt>trace</dt>
          <dd className="mono">{run?.traceId || "—"}</dd>
        </div>
      </dl>
      {run?.error && (
        <p className="run-header__error">
          {status === "RUN_STATUS_FAILED" || status === "RUN_STATUS_LOST" ? "Failed: " : ""}
          {run.error}
          {run.errorReason && <span className="muted"> ({run.errorReason})</span>}
        </p>
      )}
      {actionError && <ErrorBanner error={toApiError(actionError)} />}
    </header>
  );
}
