// The workspace's history: who did what to which file, when, newest first.
import { useId } from "react";
import { Link } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { RelativeTime } from "@/components/Time";
import { useAudit } from "../api/workspaces";
import { auditActionWord, auditActor, auditTarget } from "../lib/audit";

export function AuditList({ workspaceId }: { workspaceId: string }) {
  const audit = useAudit(workspaceId);
  const headingId = useId();
  const events = audit.data?.pages.flatMap((page) => page.events ?? []) ?? [];
  return (
    <section className="audit" aria-labelledby={headingId}>
      <h2 id={headingId}>History</h2>
      {audit.isPending && <Spinner label="Loading history…" />}
      {audit.error && <ErrorBanner error={audit.error} onRetry={() => void audit.refetch()} />}
      {audit.data && events.length === 0 && <p className="placeholder">Nothing has happened here yet.</p>}
      {events.length > 0 && (
        <ol className="audit__list" aria-label="History">
          {events.map((event) => {
            const actor = auditActor(event);
            const target = auditTarget(event);
            return (
              <li key={event.id} className="audit__item">
                <div>
                  <span className="audit__action">{auditActionWord(event.action)}</span>{" "}
                  {target && <code className="audit__path">{target}</code>}
                </div>
                <div className="audit__meta">
                  {event.version && event.version !== "0" ? <span>version {event.version}</span> : null}
                  {actor.kind === "key" && (
                    <span>
                      by <code>{actor.id}</code>
                    </span>
                  )}
                  {event.runId && (
                    <span>
                      {actor.kind === "key" ? "in run" : "by run"}{" "}
                      <Link to={`/runs/${encodeURIComponent(event.runId)}`}>{event.runId}</Link>
                    </span>
                  )}
                  <RelativeTime time={event.time} />
                </div>
              </li>
            );
          })}
        </ol>
      )}
      {audit.hasNextPage && (
        <button type="button" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage}>
          {audit.isFetchingNextPage ? "Loading…" : "Show older"}
        </button>
      )}
    </section>
  );
}
