// Upload one file into the workspace, with a progress bar.
import { useId, useRef, useState, type FormEvent } from "react";
import { ErrorBanner } from "@/components/ErrorBanner";
import { heldByRun, versionConflict } from "../lib/drafts";
import { useUpload } from "../api/upload";
import { formatBytes } from "../lib/content";
import { joinPath, normalizeDir } from "../lib/tree";

export interface UploadFormProps {
  workspaceId: string;
  /** The workspace version the person is looking at: the upload's expectedVersion. */
  version: number;
  onUploaded: (path: string, fromVersion: number, version: number) => void;
}

export function UploadForm({ workspaceId, version, onUploaded }: UploadFormProps) {
  const upload = useUpload(workspaceId);
  const fileId = useId();
  const dirId = useId();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [dir, setDir] = useState("");
  const [done, setDone] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    const path = joinPath(dir, file.name);
    const expectedVersion = version;
    setDone(null);
    upload.mutate(
      { file, path, expectedVersion },
      {
        onSuccess: (result) => {
          const newVersion = Number(result.version ?? 0);
          setDone(`Uploaded ${path} (version ${newVersion}).`);
          setFile(null);
          if (input.current) input.current.value = "";
          onUploaded(path, expectedVersion, newVersion);
        },
      },
    );
  };

  const progress = upload.progress;
  const error = upload.error;
  return (
    <form className="upload" onSubmit={submit} aria-label="Upload">
      <div className="upload__fields">
        <label htmlFor={fileId}>Upload file</label>
        <input
          id={fileId}
          ref={input}
          type="file"
          onChange={(e) => {
            setFile(e.target.files?.[0] ?? null);
            setDone(null);
          }}
        />
        <label htmlFor={dirId}>Target directory</label>
        <input
          id={dirId}
          value={dir}
          placeholder="workspace root"
          spellCheck={false}
          onChange={(e) => setDir(e.target.value)}
          onBlur={() => setDir((d) => normalizeDir(d))}
        />
      </div>
      <div className="upload__actions">
        <button type="submit" disabled={!file || upload.isPending}>
          Upload
        </button>
        {upload.isPending && (
          <button type="button" onClick={upload.cancel}>
            Cancel upload
          </button>
        )}
        {file && !upload.isPending ? (
          <span className="hint">
            {joinPath(dir, file.name)} · {formatBytes(file.size)}
          </span>
        ) : null}
      </div>
      {progress && (
        <div className="upload__progress">
          <progress aria-label="Upload progress" value={progress.loaded} max={progress.total || 1} />
          <span className="hint">
            {formatBytes(progress.loaded)} of {formatBytes(progress.total)}
          </span>
        </div>
      )}
      {error && error.code !== "CANCELLED" ? (
        <>
          <ErrorBanner error={error} />
          {versionConflict(error) ? (
            <p className="hint">The file list now shows the current version; upload again to add the file to it.</p>
          ) : null}
          {heldByRun(error) !== null ? <p className="hint">Upload again when the run has ended.</p> : null}
        </>
      ) : null}
      {error?.code === "CANCELLED" ? <p className="hint">The upload was canceled.</p> : null}
      {done && (
        <p role="status" className="hint">
          {done}
        </p>
      )}
    </form>
  );
}
