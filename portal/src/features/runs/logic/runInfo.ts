// Words and numbers about a run: which statuses are finished, what a setting
// means, how long it took.
import type { ApprovalMode, ReasoningEffort, Run, RunStatus, SandboxMode, ThreadMode } from "@/lib/api/types";

const FINISHED: ReadonlySet<RunStatus> = new Set<RunStatus>([
  "RUN_STATUS_SUCCEEDED",
  "RUN_STATUS_FAILED",
  "RUN_STATUS_CANCELED",
  "RUN_STATUS_LOST",
]);

/** Succeeded, failed, canceled or lost: nothing more will happen on its own. */
export function isFinished(status: RunStatus | null | undefined): boolean {
  return status !== null && status !== undefined && FINISHED.has(status);
}

/** A turn is running that Interrupt can stop. */
export function canInterrupt(status: RunStatus | null | undefined): boolean {
  return status === "RUN_STATUS_RUNNING" || status === "RUN_STATUS_WAITING_HUMAN";
}

/** Every status a person can filter by, in lifecycle order. */
export const FILTER_STATUSES: readonly RunStatus[] = [
  "RUN_STATUS_QUEUED",
  "RUN_STATUS_STARTING",
  "RUN_STATUS_RUNNING",
  "RUN_STATUS_WAITING_HUMAN",
  "RUN_STATUS_SUCCEEDED",
  "RUN_STATUS_FAILED",
  "RUN_STATUS_CANCELED",
  "RUN_STATUS_LOST",
];

export function isRunStatus(value: string | null): value is RunStatus {
  return value !== null && (FILTER_STATUSES as readonly string[]).includes(value);
}

/** Milliseconds from start (or creation) to finish, or to `now` while unfinished. */
export function runDurationMs(run: Run, now: number): number | null {
  const start = Date.parse(run.startedAt ?? run.createdAt ?? "");
  if (Number.isNaN(start)) return null;
  const finished = Date.parse(run.finishedAt ?? "");
  const end = Number.isNaN(finished) ? (isFinished(run.status) ? null : now) : finished;
  if (end === null) return null;
  return Math.max(0, end - start);
}

/** An int64 JSON string ("12400") as a number; 0 for anything else. */
export function int64(value: string | number | null | undefined): number {
  const n = typeof value === "number" ? value : Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** Whole seconds typed by a person → a proto Duration ("300s"); null when empty; throws a sentence when invalid. */
export function secondsToDuration(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  if (!/^\d+$/.test(trimmed) || Number(trimmed) <= 0) {
    throw new Error("The human-loop timeout must be a whole number of seconds above 0.");
  }
  return `${Number(trimmed)}s`;
}

/** "300s" → "5m", "90s" → "90s", "3600s" → "1h". */
export function durationInWords(duration: string | null | undefined): string {
  const match = /^(\d+(?:\.\d+)?)s$/.exec(duration ?? "");
  if (!match) return duration ?? "";
  const seconds = Number(match[1]);
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

export const APPROVAL_LABELS: Record<ApprovalMode, string> = {
  APPROVAL_MODE_UNSPECIFIED: "default",
  APPROVAL_MODE_NEVER: "never",
  APPROVAL_MODE_ON_REQUEST: "on request",
  APPROVAL_MODE_ON_FAILURE: "on failure (deprecated)",
  APPROVAL_MODE_UNTRUSTED: "untrusted",
};

export const SANDBOX_LABELS: Record<SandboxMode, string> = {
  SANDBOX_MODE_UNSPECIFIED: "default",
  SANDBOX_MODE_READ_ONLY: "read-only",
  SANDBOX_MODE_WORKSPACE_WRITE: "workspace-write",
  SANDBOX_MODE_DANGER_FULL_ACCESS: "full access",
};

export const EFFORT_LABELS: Record<ReasoningEffort, string> = {
  REASONING_EFFORT_UNSPECIFIED: "default",
  REASONING_EFFORT_NONE: "none",
  REASONING_EFFORT_MINIMAL: "minimal",
  REASONING_EFFORT_LOW: "low",
  REASONING_EFFORT_MEDIUM: "medium",
  REASONING_EFFORT_HIGH: "high",
  REASONING_EFFORT_XHIGH: "extra high",
};

export const THREAD_LABELS: Record<ThreadMode, string> = {
  THREAD_MODE_UNSPECIFIED: "default",
  THREAD_MODE_PERSISTENT: "persistent",
  THREAD_MODE_STATELESS: "stateless",
};

/** Why the composer cannot send, or null when it can. */
export function composerBlockedReason(run: Run | undefined, status: RunStatus | null | undefined): string | null {
  if (!run) return "Loading the run…";
  if (status === "RUN_STATUS_LOST") return "The run lost its executor; it cannot take messages.";
  if (isFinished(status) && run.settings?.threadMode === "THREAD_MODE_STATELESS") {
    return "This run used a stateless thread, so it cannot continue. Start a new run instead.";
  }
  return null;
}
