// One file: its content in the editor, Save (with the version it was loaded
// at), Rename, Delete, and the conflict dialog when someone else wrote first.
import { useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent, type KeyboardEvent } from "react";
import { Link } from "react-router-dom";
import { CodeEditor } from "@/components/Code";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import type { ApiError } from "@/lib/api/errors";
import { fetchCurrentFile, useDeleteFile, useFile, useRenameFile, useWriteFile } from "../api/workspaces";
import { decodeContent, formatBytes } from "../lib/content";
import {
  dropDraft,
  editDraft,
  fileSince,
  heldByRun,
  moveDraft,
  rebaseDrafts,
  versionConflict,
  type Drafts,
  type FileSince,
  type Loaded,
} from "../lib/drafts";
import { normalizeDir } from "../lib/tree";
import { ConflictDialog } from "./ConflictDialog";

export interface FileEditorProps {
  workspaceId: string;
  path: string;
  drafts: Drafts;
  setDrafts: (update: (drafts: Drafts) => Drafts) => void;
  onRenamed: (newPath: string) => void;
  onDeleted: () => void;
  compact?: boolean;
}

interface Conflict {
  path: string;
  currentVersion: number;
  since: FileSince;
}

/** The error in words, and the run to open when a run holds the workspace. */
function ChangeError({ error, onRetry }: { error: ApiError; onRetry?: () => void }) {
  const runId = heldByRun(error);
  return (
    <>
      <ErrorBanner error={error} onRetry={onRetry} />
      {runId ? (
        <p className="hint">
          Your text is kept. Save again when run <Link to={`/runs/${encodeURIComponent(runId)}`}>{runId}</Link> has
          ended.
        </p>
      ) : null}
    </>
  );
}

export function FileEditor({ workspaceId, path, drafts, setDrafts, onRenamed, onDeleted, compact }: FileEditorProps) {
  const queryClient = useQueryClient();
  const file = useFile(workspaceId, path);
  const write = useWriteFile(workspaceId);
  const rename = useRenameFile(workspaceId);
  const remove = useDeleteFile(workspaceId);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const newPathId = useId();

  const draft = drafts[path];
  const decoded = file.data ? decodeContent(file.data.content) : null;
  const loaded: Loaded | null =
    file.data && decoded?.kind === "text"
      ? { text: decoded.text, version: Number(file.data.version ?? 0), sha256: file.data.file?.sha256 ?? "" }
      : null;
  const text = draft?.text ?? loaded?.text ?? "";
  // The version the file was read at (text or not): what Rename and Delete check against.
  const loadedVersion = Number(file.data?.version ?? 0);
  // The version every change of this file is checked against.
  const baseVersion = draft?.baseVersion ?? loadedVersion;

  const onChange = (value: string) => {
    if (loaded) setDrafts((d) => editDraft(d, path, value, loaded));
    else if (draft) setDrafts((d) => ({ ...d, [path]: { ...draft, text: value } }));
  };

  const lookAtCurrentFile = (target: string, base: Drafts[string] | undefined) => {
    fetchCurrentFile(queryClient, workspaceId, target).then(
      (current) =>
        setConflict((c) =>
          c && c.path === target
            ? {
                ...c,
                currentVersion: Math.max(c.currentVersion, Number(current.version ?? 0)),
                since: base ? fileSince(base, current.file?.sha256 ?? "") : "unknown",
              }
            : c,
        ),
      (error: ApiError) =>
        setConflict((c) =>
          c && c.path === target && error.code === "NOT_FOUND" && base ? { ...c, since: fileSince(base, null) } : c,
        ),
    );
  };

  const save = (expectedVersion: number) => {
    const target = path;
    const saving = draft;
    if (!saving) return;
    write.mutate(
      { path: target, text: saving.text, expectedVersion },
      {
        onSuccess: (result) => {
          setConflict(null);
          setDrafts((d) => {
            // Keep typing that happened while saving.
            const now = d[target];
            const next = now && now.text !== saving.text ? d : dropDraft(d, target);
            const rebased = rebaseDrafts(next, {
              expectedVersion,
              version: Number(result.version ?? 0),
              paths: [target],
            });
            const still = rebased[target];
            return still
              ? { ...rebased, [target]: { ...still, baseVersion: Number(result.version ?? 0), baseSha256: result.file?.sha256 ?? "" } }
              : rebased;
          });
        },
        onError: (error) => {
          const found = versionConflict(error);
          if (!found) return;
          setConflict({ path: target, currentVersion: found.currentVersion, since: "unknown" });
          lookAtCurrentFile(target, saving);
        },
      },
    );
  };

  const reload = () => {
    setDrafts((d) => dropDraft(d, path));
    setConflict(null);
    write.reset();
    void file.refetch();
  };

  const submitRename = (event: FormEvent) => {
    event.preventDefault();
    const newPath = normalizeDir(renaming ?? "");
    if (!newPath || newPath === path) {
      setRenaming(null);
      return;
    }
    const expectedVersion = loadedVersion;
    rename.mutate(
      { path, newPath, expectedVersion },
      {
        onSuccess: ({ version }) => {
          setRenaming(null);
          setDrafts((d) => rebaseDrafts(moveDraft(d, path, newPath), { expectedVersion, version, paths: [] }));
          onRenamed(newPath);
        },
      },
    );
  };

  const confirmDelete = () => {
    const expectedVersion = loadedVersion;
    remove.mutate(
      { path, expectedVersion },
      {
        onSuccess: ({ version }) => {
          setConfirmingDelete(false);
          setDrafts((d) => rebaseDrafts(dropDraft(d, path), { expectedVersion, version, paths: [path] }));
          onDeleted();
        },
      },
    );
  };

  const onEditorKeyDown = (event: KeyboardEvent) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      if (draft && !write.isPending) save(draft.baseVersion);
    }
  };

  const writeError = write.error && !versionConflict(write.error) ? write.error : null;
  const dirty = draft !== undefined;
  const editable = loaded !== null || dirty;

  return (
    <section className={`file-editor${compact ? " file-editor--compact" : ""}`} aria-label={`File ${path}`}>
      <header className="file-editor__header">
        <h2 className="file-editor__path">
          <code>{path}</code>
        </h2>
        <span className="file-editor__meta">
          {file.data ? `version ${baseVersion}` : null}
          {file.data?.file?.size ? ` · ${formatBytes(Number(file.data.file.size))}` : null}
          {dirty ? <span className="file-editor__dirty"> · Unsaved changes</span> : null}
        </span>
      </header>

      <div className="file-editor__toolbar">
        <button
          type="button"
          className="primary"
          onClick={() => draft && save(draft.baseVersion)}
          disabled={!dirty || write.isPending}
        >
          {write.isPending ? "Saving…" : "Save"}
        </button>
        {renaming === null && (
          <button
            type="button"
            onClick={() => {
              setConfirmingDelete(false);
              rename.reset();
              setRenaming(path);
            }}
            disabled={!file.data}
          >
            Rename
          </button>
        )}
        {!confirmingDelete && (
          <button
            type="button"
            onClick={() => {
              setRenaming(null);
              remove.reset();
              setConfirmingDelete(true);
            }}
            disabled={!file.data}
          >
            Delete
          </button>
        )}
      </div>

      {renaming !== null && (
        <form className="file-editor__inline" onSubmit={submitRename} aria-label="Rename file">
          <label htmlFor={newPathId}>New path</label>
          <input
            id={newPathId}
            value={renaming}
            onChange={(e) => setRenaming(e.target.value)}
            autoFocus
            spellCheck={false}
            onKeyDown={(e) => e.key === "Escape" && setRenaming(null)}
          />
          <button type="submit" className="primary" disabled={rename.isPending}>
            Rename
          </button>
          <button type="button" onClick={() => setRenaming(null)}>
            Cancel
          </button>
        </form>
      )}
      {rename.error && <ChangeError error={rename.error} />}

      {confirmingDelete && (
        <div className="file-editor__inline" role="group" aria-label="Confirm delete">
          <span>
            Delete <code>{path}</code>?{dirty ? " Your unsaved changes to it are lost." : ""}
          </span>
          <button type="button" className="files-danger" onClick={confirmDelete} disabled={remove.isPending} autoFocus>
            Delete
          </button>
          <button type="button" onClick={() => setConfirmingDelete(false)}>
            Cancel
          </button>
        </div>
      )}
      {remove.error && <ChangeError error={remove.error} />}

      {writeError && <ChangeError error={writeError} onRetry={draft ? () => save(draft.baseVersion) : undefined} />}

      {file.isPending && !dirty ? <Spinner label="Loading file…" /> : null}
      {file.error && <ErrorBanner error={file.error} onRetry={() => void file.refetch()} />}
      {decoded?.kind === "binary" && !dirty ? (
        <p className="placeholder">
          This file is not text ({formatBytes(decoded.size)}); it cannot be shown or edited here.
        </p>
      ) : null}
      {editable ? (
        <div className="file-editor__code" onKeyDown={onEditorKeyDown}>
          <CodeEditor value={text} path={path} label="File content" onChange={onChange} />
        </div>
      ) : null}

      {conflict && conflict.path === path && draft ? (
        <ConflictDialog
          path={path}
          baseVersion={draft.baseVersion}
          currentVersion={conflict.currentVersion}
          since={conflict.since}
          busy={write.isPending}
          onReload={reload}
          onOverwrite={() => save(conflict.currentVersion)}
          onCancel={() => setConflict(null)}
        />
      ) : null}
    </section>
  );
}
