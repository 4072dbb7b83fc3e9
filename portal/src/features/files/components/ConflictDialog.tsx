// The stale-version dialog: someone else wrote to the workspace after the
// file was loaded. The person's text stays until they choose.
import { useEffect, useId, useRef } from "react";
import type { FileSince } from "../lib/drafts";

export interface ConflictDialogProps {
  path: string;
  baseVersion: number;
  currentVersion: number;
  since: FileSince;
  busy: boolean;
  onReload: () => void;
  onOverwrite: () => void;
  onCancel: () => void;
}

const SINCE_WORDS: Record<FileSince, string> = {
  changed: "This file was changed too.",
  unchanged: "This file itself is unchanged; other files changed.",
  deleted: "This file was deleted; overwriting creates it again.",
  unknown: "",
};

export function ConflictDialog(props: ConflictDialogProps) {
  const { path, baseVersion, currentVersion, since, busy, onReload, onOverwrite, onCancel } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const bodyId = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);

  return (
    <dialog
      ref={ref}
      className="files-dialog"
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onCancel={(event) => {
        // Escape: keep editing (React decides when the dialog goes).
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id={titleId}>Someone else changed this workspace</h2>
      <div id={bodyId}>
        <p>
          Your edit of <code>{path}</code> is based on version {baseVersion}; the workspace is now at version{" "}
          {currentVersion}. {SINCE_WORDS[since]}
        </p>
        <p className="hint">
          Reload discards your edit and loads the current file. Overwrite saves your text over the current version.
        </p>
      </div>
      <div className="files-dialog__actions">
        <button type="button" onClick={onReload} disabled={busy}>
          Reload
        </button>
        <button type="button" className="files-danger" onClick={onOverwrite} disabled={busy}>
          Overwrite
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Keep editing
        </button>
      </div>
    </dialog>
  );
}
