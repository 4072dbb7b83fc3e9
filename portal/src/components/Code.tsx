// Code and diff views. CodeMirror is a separate chunk, fetched the first time
// one of these renders, so the initial bundle stays small.
import { lazy, Suspense } from "react";
import { Spinner } from "./Spinner";

export interface CodeEditorProps {
  value: string;
  /** File path: picks the language. */
  path?: string;
  readOnly?: boolean;
  /** Accessible name of the editor. */
  label: string;
  onChange?: (value: string) => void;
}

export interface DiffEditorProps {
  original: string;
  modified: string;
  label: string;
}

const LazyCodeEditor = lazy(() => import("./code/CodeEditor"));
const LazyDiffEditor = lazy(() => import("./code/DiffEditor"));

export function CodeEditor(props: CodeEditorProps) {
  return (
    <Suspense fallback={<Spinner label="Loading editor…" />}>
      <LazyCodeEditor {...props} />
    </Suspense>
  );
}

export function DiffEditor(props: DiffEditorProps) {
  return (
    <Suspense fallback={<Spinner label="Loading diff…" />}>
      <LazyDiffEditor {...props} />
    </Suspense>
  );
}
