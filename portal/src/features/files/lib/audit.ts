// The audit log in words. No UI here.
import type { AuditAction, AuditEvent } from "@/lib/api/types";

const ACTION_WORDS: Record<AuditAction, string> = {
  AUDIT_ACTION_UNSPECIFIED: "changed",
  AUDIT_ACTION_CREATE: "created the workspace",
  AUDIT_ACTION_WRITE: "edited",
  AUDIT_ACTION_UPLOAD: "uploaded",
  AUDIT_ACTION_RENAME: "renamed",
  AUDIT_ACTION_DELETE: "deleted",
  AUDIT_ACTION_SYNC: "synced",
};

export function auditActionWord(action: AuditAction | undefined): string {
  return ACTION_WORDS[action ?? "AUDIT_ACTION_UNSPECIFIED"] ?? "changed";
}

/** Who did it: the API key, or the run that synced its changes back. */
export function auditActor(event: AuditEvent): { kind: "key" | "run" | "unknown"; id: string } {
  if (event.actorKeyId) return { kind: "key", id: event.actorKeyId };
  if (event.runId) return { kind: "run", id: event.runId };
  return { kind: "unknown", id: "" };
}

/** What it touched: "a.txt", "a.txt → b.txt", or "" (a workspace-wide event). */
export function auditTarget(event: AuditEvent): string {
  if (event.newPath && event.path) return `${event.path} → ${event.newPath}`;
  return event.path || event.newPath || "";
}
