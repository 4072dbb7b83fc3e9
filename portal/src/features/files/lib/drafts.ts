// Unsaved edits and what the server says about them: a stale version
// (ABORTED, someone else wrote first) or a workspace held by a run
// (FAILED_PRECONDITION). No UI here.
import type { ApiError } from "@/lib/api/errors";

/** An edit not yet saved: the text, and the version and content it is based on. */
export interface Draft {
  path: string;
  text: string;
  /** The workspace version the file was loaded at: the save's expectedVersion. */
  baseVersion: number;
  /** SHA-256 of the content the edit started from. */
  baseSha256: string;
}

export type Drafts = Readonly<Record<string, Draft>>;

/** What the editor was loaded with. */
export interface Loaded {
  text: string;
  version: number;
  sha256: string;
}

/**
 * The drafts after the person typed `text` into `path`. Typing back to what
 * was loaded drops the draft; an existing draft keeps its base version (the
 * edit is still based on what was loaded first).
 */
export function editDraft(drafts: Drafts, path: string, text: string, loaded: Loaded): Drafts {
  const existing = drafts[path];
  if (!existing && text === loaded.text) return drafts;
  if (existing && text === loaded.text && existing.baseVersion === loaded.version) return dropDraft(drafts, path);
  const base = existing ?? { path, baseVersion: loaded.version, baseSha256: loaded.sha256 };
  return { ...drafts, [path]: { ...base, text } };
}

export function dropDraft(drafts: Drafts, path: string): Drafts {
  if (!(path in drafts)) return drafts;
  return Object.fromEntries(Object.entries(drafts).filter(([key]) => key !== path));
}

/** A draft follows its file when the file is renamed. */
export function moveDraft(drafts: Drafts, from: string, to: string, version?: number): Drafts {
  const draft = drafts[from];
  if (!draft) return drafts;
  const next = dropDraft(drafts, from);
  return { ...next, [to]: { ...draft, path: to, baseVersion: version ?? draft.baseVersion } };
}

/** One change the person made themselves, as the server confirmed it. */
export interface OwnChange {
  /** The expectedVersion it was sent with (0: unconditional). */
  expectedVersion: number;
  /** The version it created. */
  version: number;
  /** The paths it touched. */
  paths: readonly string[];
}

/**
 * After the person's own change from version N to N+1 (sent with
 * expectedVersion N, so nothing else happened in between), drafts of other
 * files based on N are still based on exactly what is there: move them to
 * N+1, so saving them does not report the person's own change as a conflict.
 */
export function rebaseDrafts(drafts: Drafts, change: OwnChange): Drafts {
  const { expectedVersion, version, paths } = change;
  if (expectedVersion <= 0 || version !== expectedVersion + 1) return drafts;
  let next: Record<string, Draft> | null = null;
  for (const draft of Object.values(drafts)) {
    if (draft.baseVersion !== expectedVersion || paths.includes(draft.path)) continue;
    next ??= { ...drafts };
    next[draft.path] = { ...draft, baseVersion: version };
  }
  return next ?? drafts;
}

/** A stale-version refusal: the version the workspace is at now. */
export interface VersionConflict {
  currentVersion: number;
  expectedVersion: number;
}

function int(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * The conflict in an ABORTED error (someone else changed the workspace since
 * the version the request named), or null for any other error. The current
 * version comes from the error's metadata, else from its message.
 */
export function versionConflict(error: ApiError | null | undefined): VersionConflict | null {
  if (!error || error.code !== "ABORTED") return null;
  const current =
    int(error.metadata.current_version) ??
    int(error.metadata.currentVersion) ??
    int(/at version (\d+)/.exec(error.serverMessage)?.[1]);
  if (current === null) return null;
  const expected = int(error.metadata.expected_version) ?? int(error.metadata.expectedVersion) ?? 0;
  return { currentVersion: current, expectedVersion: expected };
}

/** The run that holds the workspace, when a change was refused for that reason. */
export function heldByRun(error: ApiError | null | undefined): string | null {
  if (!error || error.code !== "FAILED_PRECONDITION") return null;
  if (error.metadata.run_id) return error.metadata.run_id;
  if (error.reason === "WORKSPACE_HELD_BY_RUN") return /run (\S+?);?(\s|$)/.exec(error.serverMessage)?.[1] ?? "";
  return null;
}

export type FileSince = "changed" | "unchanged" | "deleted" | "unknown";

/**
 * What happened to the draft's file between its base and now, given the
 * file's current SHA-256 (`null`: the file no longer exists; `undefined`:
 * not known yet).
 */
export function fileSince(draft: Draft, currentSha256: string | null | undefined): FileSince {
  if (currentSha256 === undefined) return "unknown";
  if (currentSha256 === null) return "deleted";
  return currentSha256 === draft.baseSha256 ? "unchanged" : "changed";
}
