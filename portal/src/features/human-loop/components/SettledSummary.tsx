// How a request ended: the answer in words, who gave it and when.
import { RelativeTime } from "@/components/Time";
import type { HumanLoopAnswer, HumanLoopDetails } from "@/lib/api/types";
import { decisionInWords, type HumanLoopView } from "../model";

function AnswerInWords({ answer, details }: { answer: HumanLoopAnswer | null; details: HumanLoopDetails }) {
  if (answer === null) return null;
  if (answer.approval) return <p className="hl-answer__decision">{decisionInWords(answer.approval.decision)}</p>;
  if (answer.questions) {
    const questions = details.userInput?.questions ?? [];
    const entries = Object.entries(answer.questions.answers ?? {});
    if (entries.length === 0) return <p className="hl-answer__decision">No answer</p>;
    return (
      <dl className="hl-answer__list">
        {entries.map(([id, value]) => {
          const q = questions.find((x) => x.id === id);
          return (
            <div key={id}>
              <dt>{q ? [q.header, q.question].filter(Boolean).join(": ") || id : id}</dt>
              <dd>{q?.secret ? "(hidden)" : (value.answers ?? []).join(", ")}</dd>
            </div>
          );
        })}
      </dl>
    );
  }
  if (answer.text !== undefined) return <p className="hl-answer__text">{answer.text}</p>;
  return null;
}

export function SettledSummary({ view, myKeyId }: { view: HumanLoopView; myKeyId: string | null }) {
  const who = view.resolvedBy ? (myKeyId && view.resolvedBy === myKeyId ? "you" : view.resolvedBy) : null;
  switch (view.state) {
    case "resolved":
      return (
        <div className="hl-answer">
          <AnswerInWords answer={view.answer} details={view.details} />
          <p className="hl-answer__who">
            Answered{who ? <> by {who === "you" ? "you" : <code>{who}</code>}</> : null}
            {view.settledAt ? (
              <>
                {" "}
                <RelativeTime time={view.settledAt} />
              </>
            ) : null}
          </p>
        </div>
      );
    case "expired":
      return (
        <div className="hl-answer">
          <p className="hl-answer__who">
            Nobody answered in time
            {view.settledAt ? (
              <>
                {"; it expired "}
                <RelativeTime time={view.settledAt} />
              </>
            ) : null}
            .
          </p>
          {view.answer ? (
            <div className="hl-answer__sent">
              <span className="hint">The agent was told:</span>
              <AnswerInWords answer={view.answer} details={view.details} />
            </div>
          ) : null}
        </div>
      );
    case "canceled":
      return (
        <div className="hl-answer">
          <p className="hl-answer__who">
            Canceled{view.cancelReason ? `: ${view.cancelReason}` : ""}
            {view.settledAt ? (
              <>
                {" "}
                <RelativeTime time={view.settledAt} />
              </>
            ) : null}
            {view.cancelReason ? "" : " (the run was stopped, or the agent no longer needs it)"}.
          </p>
        </div>
      );
    default:
      return null;
  }
}
