// A unified diff with +/− lines coloured: plain DOM, cheap enough for the timeline.
import { memo } from "react";
import { parseFileChangeDiff } from "../logic/diff";

const MAX_LINES = 2000;

export const DiffView = memo(function DiffView({ diff, label, kind }: { diff: string; label: string; kind?: string }) {
  const { lines } = parseFileChangeDiff(diff, kind);
  const shown = lines.length > MAX_LINES ? lines.slice(0, MAX_LINES) : lines;
  return (
    <pre className="diff" aria-label={label} tabIndex={0}>
      {shown.map((line, i) => (
        <span key={i} className={`diff__line diff__line--${line.kind}`}>
          {line.text || " "}
          {"\n"}
        </span>
      ))}
      {shown.length < lines.length && (
        <span className="diff__line diff__line--meta">… {lines.length - shown.length} more lines not shown</span>
      )}
    </pre>
  );
});

/** "+3 −1" (words for screen readers). */
export function DiffCounts({ added, removed }: { added: number; removed: number }) {
  return (
    <span className="diff-counts">
      <span className="diff-counts__add" aria-label={`${added} added`}>
        +{added}
      </span>{" "}
      <span className="diff-counts__remove" aria-label={`${removed} removed`}>
        −{removed}
      </span>
    </span>
  );
}
