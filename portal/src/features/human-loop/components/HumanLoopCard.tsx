// One request from the agent, with the form that answers it: in a run's
// timeline (HumanLoopCard, from the run log) or in the inbox
// (HumanLoopRequestCard, from the REST/feed HumanLoopRequest). One form for both.
import { useId, type ReactNode } from "react";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { useSession } from "@/features/auth";
import type { HumanLoopRequest } from "@/lib/api/types";
import type { HumanLoopItem } from "@/lib/runLog";
import { useReply } from "../api/reply";
import {
  fromRequest,
  fromTimelineItem,
  isApproval,
  kindTitle,
  offeredDecisions,
  stateInWords,
  withReply,
  type HumanLoopView,
} from "../model";
import { ApprovalButtons, QuestionsForm, TextAnswerForm } from "./AnswerForms";
import { Countdown } from "./Countdown";
import { RequestDetails } from "./RequestDetails";
import { SettledSummary } from "./SettledSummary";

/** A `human_loop` item of a run's timeline, answerable while pending. */
/**
 * A request of the run's timeline. `answerElsewhere` names where a pending
 * request is answered instead (the run page answers in its "Needs you" rail,
 * so one request never has two sets of buttons).
 */
export function HumanLoopCard({
  runId,
  item,
  answerElsewhere,
}: {
  runId: string;
  item: HumanLoopItem;
  answerElsewhere?: string;
}) {
  return <HumanLoopForm view={fromTimelineItem(runId, item)} answerElsewhere={answerElsewhere} />;
}

/** A HumanLoopRequest (inbox, REST), answerable while pending; `children` go under the title. */
export function HumanLoopRequestCard({ request, children }: { request: HumanLoopRequest; children?: ReactNode }) {
  return <HumanLoopForm view={fromRequest(request)}>{children}</HumanLoopForm>;
}

function HumanLoopForm({
  view: given,
  children,
  answerElsewhere,
}: {
  view: HumanLoopView;
  children?: ReactNode;
  answerElsewhere?: string;
}) {
  const titleId = useId();
  const session = useSession();
  const reply = useReply(given.runId, given.questionId);
  // The reply's answer shows at once; the stream confirms it a moment later.
  const view = withReply(given, reply.data?.request ?? null);
  const pending = view.state === "pending";
  const sending = reply.isPending;
  const answer = reply.mutate;

  let form: ReactNode = null;
  if (pending && answerElsewhere) {
    form = <p className="hl-card__elsewhere">{answerElsewhere}</p>;
  } else if (pending) {
    if (isApproval(view.kind)) {
      form = <ApprovalButtons decisions={offeredDecisions(view.details)} onAnswer={answer} sending={sending} />;
    } else if (view.kind === "HUMAN_LOOP_KIND_USER_INPUT") {
      form = <QuestionsForm questions={view.details.userInput?.questions ?? []} onAnswer={answer} sending={sending} />;
    } else {
      form = <TextAnswerForm onAnswer={answer} sending={sending} />;
    }
  }

  return (
    <article className={`hl-card hl-card--${view.state}`} aria-labelledby={titleId}>
      <header className="hl-card__header">
        <h3 id={titleId} className="hl-card__title">
          {kindTitle(view.kind)}
        </h3>
        <span className={`hl-state hl-state--${view.state}`}>
          <span className="hl-state__dot" aria-hidden="true" />
          {stateInWords(view.state)}
        </span>
      </header>
      {children}
      <RequestDetails kind={view.kind} details={view.details} pending={pending} />
      {form}
      {pending && sending ? <Spinner label="Sending your answer…" /> : null}
      {pending && reply.error ? <ErrorBanner error={reply.error} /> : null}
      {pending ? <Countdown expiresAt={view.expiresAt} /> : <SettledSummary view={view} myKeyId={session.data?.keyId ?? null} />}
    </article>
  );
}
