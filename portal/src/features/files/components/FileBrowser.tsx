// The file browser: tree, editor and upload for one workspace. Used on the
// workspace page and, compact, in a run's rail.
import { useMemo, useState } from "react";
import { Link } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import type { FileEntry } from "@/lib/api/types";
import { useListings, useWorkspace } from "../api/workspaces";
import { useDrafts } from "../hooks/useDrafts";
import { rebaseDrafts } from "../lib/drafts";
import { ancestors, buildTree, reachableEntries, visibleRows } from "../lib/tree";
import { FileEditor } from "./FileEditor";
import { FileTree } from "./FileTree";
import { UploadForm } from "./UploadForm";

export interface FileBrowserProps {
  workspaceId: string;
  /** Narrow layout for the rail: everything stacked. */
  compact?: boolean;
  /** The run being looked at, if any (for the "in use" note). */
  runId?: string;
}

export function FileBrowser({ workspaceId, compact = false, runId }: FileBrowserProps) {
  const workspace = useWorkspace(workspaceId);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const [selected, setSelected] = useState<string | null>(null);
  const [drafts, setDrafts] = useDrafts(workspaceId);

  const dirs = useMemo(() => [...expanded].sort(), [expanded]);
  const listings = useListings(workspaceId, dirs);
  const root = listings[0];

  // Directories that vanished (renamed or deleted elsewhere) count as closed.
  const gone = new Set<string>();
  const loaded = new Set<string>();
  const byDir = new Map<string, FileEntry[]>();
  for (const [i, listing] of listings.entries()) {
    const dir = i === 0 ? "" : dirs[i - 1];
    if (listing.error?.code === "NOT_FOUND" && dir) gone.add(dir);
    else if (listing.data) byDir.set(dir, listing.data.entries);
    if (listing.data || listing.error) loaded.add(dir);
  }
  const open = new Set([...expanded].filter((d) => !gone.has(d) && !ancestors(d).some((a) => gone.has(a))));
  const tree = buildTree(reachableEntries(byDir));
  const rows = visibleRows(tree, open, loaded);
  const listingError = listings.find((l, i) => l.error && !(i > 0 && l.error.code === "NOT_FOUND"))?.error ?? null;
  const version = root?.data?.version ?? Number(workspace.data?.currentVersion ?? 0);
  const lockedBy = workspace.data?.lockedByRunId ?? "";
  const dirty = new Set(Object.keys(drafts));

  const setOpen = (path: string, isOpen: boolean) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (isOpen) next.add(path);
      else next.delete(path);
      return next;
    });

  const reveal = (path: string) => {
    setExpanded((current) => new Set([...current, ...ancestors(path)]));
    setSelected(path);
  };

  return (
    <div className={`file-browser${compact ? " file-browser--compact" : ""}`}>
      {lockedBy && (
        <p className="files-notice" role="note">
          {lockedBy === runId ? "This run" : <Link to={`/runs/${encodeURIComponent(lockedBy)}`}>Run {lockedBy}</Link>} is
          using this workspace; changes to its files are refused until the run ends.
        </p>
      )}
      {dirty.size > 0 && (
        <div className="files-drafts" role="note" aria-label="Unsaved edits">
          <span>Unsaved edits:</span>
          {[...dirty].sort().map((path) => (
            <button key={path} type="button" className="files-drafts__open" onClick={() => reveal(path)} aria-current={path === selected || undefined}>
              {path}
            </button>
          ))}
        </div>
      )}
      <div className="file-browser__side">
        {root?.isPending && <Spinner label="Loading files…" />}
        {listingError && <ErrorBanner error={listingError} onRetry={() => listings.forEach((l) => void l.refetch())} />}
        {root?.data && rows.length === 0 && <p className="placeholder">No files yet. Upload one below.</p>}
        {rows.length > 0 && (
          <FileTree
            rows={rows}
            expanded={open}
            selected={selected}
            dirty={dirty}
            onExpand={setOpen}
            onOpen={setSelected}
          />
        )}
        <UploadForm
          workspaceId={workspaceId}
          version={version}
          onUploaded={(path, fromVersion, newVersion) => {
            setDrafts((d) => rebaseDrafts(d, { expectedVersion: fromVersion, version: newVersion, paths: [path] }));
            reveal(path);
          }}
        />
      </div>
      <div className="file-browser__main">
        {selected ? (
          <FileEditor
            key={selected}
            workspaceId={workspaceId}
            path={selected}
            drafts={drafts}
            setDrafts={setDrafts}
            onRenamed={reveal}
            onDeleted={() => setSelected(null)}
            compact={compact}
          />
        ) : (
          rows.length > 0 && <p className="placeholder">Choose a file to view or edit it.</p>
        )}
      </div>
    </div>
  );
}
