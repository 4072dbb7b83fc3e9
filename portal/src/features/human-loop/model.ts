// One shape for a human-loop request, whether it comes from a run's timeline
// (a `human_loop` TimelineItem) or from the REST API (HumanLoopRequest), so
// there is one form implementation for both. Plus the words for it.
import type {
  ApprovalDecision,
  HumanLoopAnswer,
  HumanLoopDetails,
  HumanLoopKind,
  HumanLoopRequest,
  HumanLoopStatus,
} from "@/lib/api/types";
import type { HumanLoopItem, HumanLoopState } from "@/lib/runLog";

export interface HumanLoopView {
  runId: string;
  questionId: string;
  kind: HumanLoopKind;
  details: HumanLoopDetails;
  state: HumanLoopState;
  answer: HumanLoopAnswer | null;
  /** API key id of whoever answered. */
  resolvedBy: string | null;
  /** When it was resolved, expired or canceled. */
  settledAt: string | null;
  expiresAt: string | null;
  createdAt: string | null;
  /** Why it was withdrawn (timeline only). */
  cancelReason: string;
}

export function stateFromStatus(status: HumanLoopStatus | undefined): HumanLoopState {
  switch (status) {
    case "HUMAN_LOOP_STATUS_RESOLVED":
      return "resolved";
    case "HUMAN_LOOP_STATUS_EXPIRED":
      return "expired";
    case "HUMAN_LOOP_STATUS_CANCELED":
      return "canceled";
    default:
      return "pending";
  }
}

export function fromTimelineItem(runId: string, item: HumanLoopItem): HumanLoopView {
  return {
    runId,
    questionId: item.questionId,
    kind: item.requestKind,
    details: item.details,
    state: item.state,
    answer: item.answer,
    resolvedBy: item.resolvedBy,
    settledAt: item.settledAt,
    expiresAt: item.expiresAt,
    createdAt: item.time,
    cancelReason: item.cancelReason,
  };
}

export function fromRequest(request: HumanLoopRequest): HumanLoopView {
  return {
    runId: request.runId ?? "",
    questionId: request.questionId ?? "",
    kind: request.kind ?? kindFromDetails(request.details),
    details: request.details ?? {},
    state: stateFromStatus(request.status),
    answer: request.answer ?? null,
    resolvedBy: request.resolvedBy || null,
    settledAt: request.resolvedAt ?? null,
    expiresAt: request.expiresAt ?? null,
    createdAt: request.createdAt ?? null,
    cancelReason: "",
  };
}

/**
 * The view to show: `view`, unless the reply we just sent settled it and the
 * stream has not caught up yet (then the server's answer to the reply).
 */
export function withReply(view: HumanLoopView, replied: HumanLoopRequest | null): HumanLoopView {
  if (view.state !== "pending" || replied === null) return view;
  const settled = fromRequest(replied);
  if (settled.state === "pending") return view;
  return { ...view, state: settled.state, answer: settled.answer, resolvedBy: settled.resolvedBy, settledAt: settled.settledAt };
}

function kindFromDetails(details: HumanLoopDetails | undefined): HumanLoopKind {
  if (details?.commandApproval) return "HUMAN_LOOP_KIND_COMMAND_APPROVAL";
  if (details?.fileChangeApproval) return "HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL";
  if (details?.permissionsApproval) return "HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL";
  if (details?.userInput) return "HUMAN_LOOP_KIND_USER_INPUT";
  if (details?.mcpElicitation) return "HUMAN_LOOP_KIND_MCP_ELICITATION";
  return "HUMAN_LOOP_KIND_UNSPECIFIED";
}

const TITLES: Record<HumanLoopKind, string> = {
  HUMAN_LOOP_KIND_UNSPECIFIED: "The agent asks",
  HUMAN_LOOP_KIND_COMMAND_APPROVAL: "Run a command?",
  HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL: "Apply file changes?",
  HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL: "Grant permissions?",
  HUMAN_LOOP_KIND_USER_INPUT: "Question from the agent",
  HUMAN_LOOP_KIND_MCP_ELICITATION: "MCP server asks",
};

/** The card's title, which also names its region: "Run a command?". */
export function kindTitle(kind: HumanLoopKind): string {
  return TITLES[kind] ?? TITLES.HUMAN_LOOP_KIND_UNSPECIFIED;
}

export function isApproval(kind: HumanLoopKind): boolean {
  return (
    kind === "HUMAN_LOOP_KIND_COMMAND_APPROVAL" ||
    kind === "HUMAN_LOOP_KIND_FILE_CHANGE_APPROVAL" ||
    kind === "HUMAN_LOOP_KIND_PERMISSIONS_APPROVAL"
  );
}

/** The buttons an approval shows, in this order, with their accessible names. */
export const DECISION_BUTTONS: readonly { decision: ApprovalDecision; label: string }[] = [
  { decision: "APPROVAL_DECISION_ACCEPT", label: "Approve" },
  { decision: "APPROVAL_DECISION_ACCEPT_FOR_SESSION", label: "Approve for session" },
  { decision: "APPROVAL_DECISION_DECLINE", label: "Decline" },
];
// APPROVAL_DECISION_CANCEL (decline and interrupt the turn) gets no button of
// its own: the run page's Interrupt does that, and a third name containing
// "Decline" would make "Decline" ambiguous.

const DEFAULT_DECISIONS: readonly ApprovalDecision[] = [
  "APPROVAL_DECISION_ACCEPT",
  "APPROVAL_DECISION_ACCEPT_FOR_SESSION",
  "APPROVAL_DECISION_DECLINE",
];

/** The decisions offered: those of approve / approve for session / decline the agent lists, else all three. */
export function offeredDecisions(details: HumanLoopDetails): readonly ApprovalDecision[] {
  const listed = details.commandApproval?.availableDecisions?.filter((d) => DEFAULT_DECISIONS.includes(d));
  return listed && listed.length > 0 ? listed : DEFAULT_DECISIONS;
}

const DECISION_WORDS: Record<ApprovalDecision, string> = {
  APPROVAL_DECISION_UNSPECIFIED: "No decision",
  APPROVAL_DECISION_ACCEPT: "Approved",
  APPROVAL_DECISION_ACCEPT_FOR_SESSION: "Approved for the session",
  APPROVAL_DECISION_DECLINE: "Declined",
  APPROVAL_DECISION_CANCEL: "Declined, and the turn interrupted",
};

export function decisionInWords(decision: ApprovalDecision | undefined): string {
  return DECISION_WORDS[decision ?? "APPROVAL_DECISION_UNSPECIFIED"] ?? DECISION_WORDS.APPROVAL_DECISION_UNSPECIFIED;
}

const STATE_WORDS: Record<HumanLoopState, string> = {
  pending: "waiting for you",
  resolved: "answered",
  expired: "expired",
  canceled: "canceled",
};

export function stateInWords(state: HumanLoopState): string {
  return STATE_WORDS[state];
}

/** "58m 12s", "1h 05m", "12s": the time left until expiry. */
export function formatRemaining(ms: number): string {
  if (ms <= 0) return "0s";
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, "0")}m`;
  if (minutes > 0) return `${minutes}m ${String(seconds).padStart(2, "0")}s`;
  return `${seconds}s`;
}

/**
 * The same, coarse, for a live region that should not talk every second:
 * changes every 5 minutes above 10 minutes, every minute below, then once
 * at "less than a minute".
 */
export function formatRemainingCoarse(ms: number): string {
  if (ms <= 0) return "time is up";
  const minutes = Math.ceil(ms / 60_000);
  if (minutes > 90) return `about ${Math.round(minutes / 60)} hours`;
  if (minutes > 10) return `about ${Math.ceil(minutes / 5) * 5} minutes`;
  if (ms >= 60_000) return `${minutes} minutes`;
  return "less than a minute";
}

/** An idempotency key (AIP-155); works outside secure contexts too. */
export function newRequestId(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
