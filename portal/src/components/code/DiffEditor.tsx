// Side-by-side diff of two texts (@codemirror/merge), loaded on demand.
import { MergeView } from "@codemirror/merge";
import { EditorState } from "@codemirror/state";
import { EditorView, lineNumbers } from "@codemirror/view";
import { useEffect, useRef } from "react";
import type { DiffEditorProps } from "../Code";

export default function DiffEditor({ original, modified, label }: DiffEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!host.current) return;
    const common = [lineNumbers(), EditorState.readOnly.of(true), EditorView.editable.of(false)];
    const merge = new MergeView({
      parent: host.current,
      a: { doc: original, extensions: common },
      b: { doc: modified, extensions: common },
    });
    return () => merge.destroy();
  }, [original, modified]);
  return <div className="diff-editor" role="region" aria-label={label} ref={host} />;
}
