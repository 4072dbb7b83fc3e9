// `/`: start a run, and the tenant's runs, newest first, live.
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { StatusBadge, runStatusLabel } from "@/components/StatusBadge";
import { Duration, RelativeTime } from "@/components/Time";
import { toApiError } from "@/lib/api/errors";
import type { Run } from "@/lib/api/types";
import { formatCount } from "@/lib/format";
import { useRuns, useWorkspaceChoices } from "../api/runs";
import { useNow } from "../hooks/useNow";
import { FILTER_STATUSES, int64, isFinished, isRunStatus, runDurationMs } from "../logic/runInfo";
import { NewRunForm } from "./NewRunForm";

export function RunsPage() {
  return (
    <section className="page runs-page">
      <h1>Runs</h1>
      <NewRunForm />
      <RunsList />
    </section>
  );
}

function truncate(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function RunsList() {
  const [params, setParams] = useSearchParams();
  const statusParam = params.get("status");
  const status = isRunStatus(statusParam) ? statusParam : null;
  const workspaceId = params.get("workspace") ?? "";
  const pageToken = params.get("pageToken") ?? "";
  // Tokens of the pages before this one, for Previous (not in the URL: a reload starts from page 1 on Previous).
  const [previousTokens, setPreviousTokens] = useState<string[]>([]);
  const runs = useRuns({ status, workspaceId, pageToken });
  const workspaces = useWorkspaceChoices();
  const list = runs.data?.runs ?? [];
  const now = useNow(1000, list.some((run) => !isFinished(run.status)));

  const update = (changes: Record<string, string>, keepPaging = false) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    if (!keepPaging) {
      next.delete("pageToken");
      setPreviousTokens([]);
    }
    setParams(next);
  };

  const workspaceOptions = new Map<string, string>();
  for (const w of workspaces.data ?? []) if (w.id) workspaceOptions.set(w.id, w.name ? `${w.name} (${w.id})` : w.id);
  if (workspaceId && !workspaceOptions.has(workspaceId)) workspaceOptions.set(workspaceId, workspaceId);

  return (
    <section className="runs-list" aria-labelledby="runs-list-title">
      <div className="runs-list__bar">
        <h2 id="runs-list-title">All runs</h2>
        <label>
          <span>Status filter</span>
          <select value={status ?? ""} onChange={(e) => update({ status: e.target.value })}>
            <option value="">any</option>
            {FILTER_STATUSES.map((s) => (
              <option key={s} value={s}>
                {runStatusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Workspace filter</span>
          <select value={workspaceId} onChange={(e) => update({ workspace: e.target.value })}>
            <option value="">any</option>
            {[...workspaceOptions].map(([id, label]) => (
              <option key={id} value={id}>
                {label}
              </option>
            ))}
          </select>
        </label>
        {runs.isFetching && <Spinner label="Refreshing runs…" />}
      </div>
      {runs.error && <ErrorBanner error={toApiError(runs.error)} onRetry={() => void runs.refetch()} />}
      {runs.isPending ? (
        <Spinner label="Loading runs…" />
      ) : list.length === 0 ? (
        <p className="placeholder">
          {status || workspaceId ? "No runs match these filters." : "No runs yet. Start one above."}
        </p>
      ) : (
        <table className="runs-table">
          <thead>
            <tr>
              <th scope="col">Status</th>
              <th scope="col">Prompt</th>
              <th scope="col">Workspace</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
              <th scope="col">Tokens</th>
            </tr>
          </thead>
          <tbody>
            {list.map((run) => (
              <RunRow key={run.id} run={run} now={now} />
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages of runs">
        <button
          type="button"
          disabled={!pageToken}
          onClick={() => {
            const previous = previousTokens.at(-1) ?? "";
            setPreviousTokens(previousTokens.slice(0, -1));
            update({ pageToken: previous }, true);
          }}
        >
          Previous
        </button>
        <button
          type="button"
          disabled={!runs.data?.nextPageToken}
          onClick={() => {
            setPreviousTokens([...previousTokens, pageToken]);
            update({ pageToken: runs.data?.nextPageToken ?? "" }, true);
          }}
        >
          Next
        </button>
      </nav>
    </section>
  );
}

function RunRow({ run, now }: { run: Run; now: number }) {
  const href = `/runs/${encodeURIComponent(run.id ?? "")}`;
  const tokens = int64(run.usage?.totalTokens);
  return (
    <tr>
      <td>
        <StatusBadge status={run.status} />
      </td>
      <td className="runs-table__prompt">
        <Link to={href} title={run.prompt}>
          {truncate(run.prompt ?? "", 90) || run.id}
        </Link>
      </td>
      <td>
        {run.workspaceId ? (
          <Link to={`/workspaces/${encodeURIComponent(run.workspaceId)}`} className="mono">
            {run.workspaceId}
          </Link>
        ) : (
          "—"
        )}
      </td>
      <td>
        <RelativeTime time={run.createdAt} />
      </td>
      <td>
        <Duration ms={runDurationMs(run, now)} />
      </td>
      <td>{tokens > 0 ? formatCount(tokens) : "—"}</td>
    </tr>
  );
}
