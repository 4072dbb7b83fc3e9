import type { FileChangeKind } from "@/lib/api/types";

function lineClass(line: string): string {
  if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("index ")) {
    return "diff-line diff-line--meta";
  }
  if (line.startsWith("@@")) return "diff-line diff-line--hunk";
  if (line.startsWith("+")) return "diff-line diff-line--add";
  if (line.startsWith("-")) return "diff-line diff-line--del";
  return "diff-line";
}

/** Whether `text` is a unified diff (or just the file's content). */
function looksLikeDiff(text: string): boolean {
  return /^(@@|\+\+\+ |--- |diff )/m.test(text);
}

/**
 * A light unified-diff view: one line each, added green, removed red (with
 * the +/- kept, so colour is never the only sign). A new file whose "diff"
 * is its content shows every line as added; a deleted one, as removed.
 */
export function UnifiedDiff({ diff, kind }: { diff: string; kind?: FileChangeKind }) {
  let text = diff.endsWith("\n") ? diff.slice(0, -1) : diff;
  if (!looksLikeDiff(text)) {
    if (kind === "FILE_CHANGE_KIND_ADD") text = text.split("\n").map((l) => `+${l}`).join("\n");
    else if (kind === "FILE_CHANGE_KIND_DELETE") text = text.split("\n").map((l) => `-${l}`).join("\n");
  }
  if (text === "") return <p className="hint">No content.</p>;
  return (
    <pre className="unified-diff">
      <code>
        {text.split("\n").map((line, i) => (
          <span key={i} className={lineClass(line)}>
            {line}
            {"\n"}
          </span>
        ))}
      </code>
    </pre>
  );
}
