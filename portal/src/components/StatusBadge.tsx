import type { RunStatus } from "@/lib/api/types";

const LABELS: Record<RunStatus, string> = {
  RUN_STATUS_UNSPECIFIED: "unknown",
  RUN_STATUS_QUEUED: "queued",
  RUN_STATUS_STARTING: "starting",
  RUN_STATUS_RUNNING: "running",
  RUN_STATUS_WAITING_HUMAN: "waiting for you",
  RUN_STATUS_SUCCEEDED: "succeeded",
  RUN_STATUS_FAILED: "failed",
  RUN_STATUS_CANCELED: "canceled",
  RUN_STATUS_LOST: "lost",
};

/** The word for a run status ("waiting for you"). */
export function runStatusLabel(status: RunStatus | null | undefined): string {
  return LABELS[status ?? "RUN_STATUS_UNSPECIFIED"] ?? "unknown";
}

/**
 * A run status as a colour and a word (never colour alone). `live` makes it
 * the page's "Run status" (a polite live region: a change is announced).
 */
export function StatusBadge({ status, live = false }: { status: RunStatus | null | undefined; live?: boolean }) {
  const tone = (status ?? "RUN_STATUS_UNSPECIFIED").replace("RUN_STATUS_", "").toLowerCase();
  const region = live ? { role: "status", "aria-label": `Run status: ${runStatusLabel(status)}` } : {};
  return (
    <span className={`status-badge status-badge--${tone}`} {...region}>
      <span className="status-badge__dot" aria-hidden="true" />
      {runStatusLabel(status)}
    </span>
  );
}
