// A unified diff as lines a person reads: additions, removals, hunk headers,
// file headers and context. Cheap (no editor): the timeline may hold many.

export type DiffLineKind = "add" | "remove" | "hunk" | "file" | "meta" | "context";

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
}

export interface DiffSummary {
  lines: DiffLine[];
  added: number;
  removed: number;
}

const FILE_HEADER = /^(diff --git |--- |\+\+\+ )/;
const META = /^(index |new file mode|deleted file mode|old mode|new mode|similarity index|rename from|rename to|copy from|copy to|Binary files|\\ No newline)/;

/** One line's kind. `inHunk`: whether a hunk header came before it in the same file. */
export function classifyDiffLine(line: string, inHunk: boolean): DiffLineKind {
  if (line.startsWith("@@")) return "hunk";
  if (!inHunk && FILE_HEADER.test(line)) return "file";
  if (line.startsWith("diff --git ")) return "file";
  if (META.test(line)) return "meta";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "remove";
  return "context";
}

/** Classify every line of a unified diff and count additions and removals. */
export function parseUnifiedDiff(diff: string): DiffSummary {
  const raw = diff.endsWith("\n") ? diff.slice(0, -1) : diff;
  const lines: DiffLine[] = [];
  let added = 0;
  let removed = 0;
  let inHunk = false;
  if (raw === "") return { lines, added, removed };
  for (const text of raw.split("\n")) {
    // A new file section ends the hunk ("--- a/x" after a hunk is a header again
    // only when a "diff --git" line introduced it).
    if (text.startsWith("diff --git ")) inHunk = false;
    const kind = classifyDiffLine(text, inHunk);
    if (kind === "hunk") inHunk = true;
    if (kind === "add") added += 1;
    if (kind === "remove") removed += 1;
    lines.push({ kind, text });
  }
  return { lines, added, removed };
}

/** Whether `diff` is a unified diff (it has a hunk header) rather than a file's plain content. */
export function isUnifiedDiff(diff: string): boolean {
  return /^@@ /m.test(diff);
}

/**
 * A file change's diff. The agent reports an added or deleted file's plain
 * content instead of a unified diff: then every line is an addition (or a removal).
 */
export function parseFileChangeDiff(diff: string, kind: string | undefined): DiffSummary {
  const whole = kind === "FILE_CHANGE_KIND_ADD" ? "add" : kind === "FILE_CHANGE_KIND_DELETE" ? "remove" : null;
  if (whole === null || diff === "" || isUnifiedDiff(diff)) return parseUnifiedDiff(diff);
  const raw = diff.endsWith("\n") ? diff.slice(0, -1) : diff;
  const lines = raw.split("\n").map((text) => ({ kind: whole, text: (whole === "add" ? "+" : "-") + text }) as DiffLine);
  return { lines, added: whole === "add" ? lines.length : 0, removed: whole === "remove" ? lines.length : 0 };
}
