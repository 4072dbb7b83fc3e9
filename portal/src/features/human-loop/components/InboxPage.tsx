// Every request of the tenant waiting for a person, across runs, live, oldest
// first, each answerable right here; below, the ones settled lately.
import { Link } from "react-router-dom";
import { ConnectionIndicator } from "@/components/ConnectionIndicator";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { RelativeTime } from "@/components/Time";
import type { FeedEntry } from "../feed/feedState";
import { useHumanLoopFeed, useHumanLoopFeedConnection } from "../feed/useHumanLoopFeed";
import { HumanLoopRequestCard } from "./HumanLoopCard";

function RunLine({ entry }: { entry: FeedEntry }) {
  const { runId, createdAt } = entry.request;
  return (
    <p className="hl-run">
      Run{" "}
      <Link to={`/runs/${encodeURIComponent(runId ?? "")}`}>
        <code>{runId}</code>
      </Link>
      {createdAt ? (
        <>
          {" · asked "}
          <RelativeTime time={createdAt} />
        </>
      ) : null}
    </p>
  );
}

export function InboxPage() {
  const feed = useHumanLoopFeed();
  const connection = useHumanLoopFeedConnection();
  const loading = connection.state === "connecting" && feed.lastSeq === 0;
  const stopped = connection.state === "ended" && connection.error !== null;
  return (
    <section className="page inbox" aria-labelledby="inbox-title">
      <header className="page__header">
        <h1 id="inbox-title">Inbox</h1>
        <ConnectionIndicator state={connection.state} />
      </header>
      {stopped && connection.error ? <ErrorBanner error={connection.error} /> : null}

      <section aria-labelledby="inbox-waiting" className="inbox__section">
        <h2 id="inbox-waiting">
          Waiting for you{feed.pending.length > 0 ? ` (${feed.pending.length})` : ""}
        </h2>
        {loading ? (
          <Spinner label="Loading requests…" />
        ) : feed.pending.length === 0 ? (
          <p className="placeholder">Nobody is waiting for you. New requests appear here as agents ask.</p>
        ) : (
          <ol className="inbox__list">
            {feed.pending.map((entry) => (
              <li key={entry.request.questionId}>
                <HumanLoopRequestCard request={entry.request}>
                  <RunLine entry={entry} />
                </HumanLoopRequestCard>
              </li>
            ))}
          </ol>
        )}
      </section>

      {feed.settled.length > 0 ? (
        <section aria-labelledby="inbox-settled" className="inbox__section">
          <h2 id="inbox-settled">Recently settled</h2>
          <ol className="inbox__list inbox__list--settled">
            {feed.settled.map((entry) => (
              <li key={entry.request.questionId}>
                <HumanLoopRequestCard request={entry.request}>
                  <RunLine entry={entry} />
                </HumanLoopRequestCard>
              </li>
            ))}
          </ol>
        </section>
      ) : null}
    </section>
  );
}
