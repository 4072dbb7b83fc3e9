// A run's Files tab: the run's workspace, compact, for the rail. Refreshes
// when the run syncs its changes back or ends (and so lets go of the workspace).
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { Link } from "react-router-dom";
import { useRunLog } from "@/lib/runLogStore";
import { invalidateWorkspace } from "../api/workspaces";
import { FileBrowser } from "./FileBrowser";

export interface RunFilesPanelProps {
  workspaceId: string;
  runId: string;
}

export function RunFilesPanel({ workspaceId, runId }: RunFilesPanelProps) {
  const queryClient = useQueryClient();
  const log = useRunLog(runId);
  let syncedVersion = 0;
  for (const item of log.items) {
    if (item.kind === "workspace_synced" && item.workspaceId === workspaceId) {
      syncedVersion = Math.max(syncedVersion, item.version);
    }
  }
  const status = log.status;
  useEffect(() => {
    if (workspaceId) invalidateWorkspace(queryClient, workspaceId);
  }, [queryClient, workspaceId, syncedVersion, status]);

  if (!workspaceId) return <p className="placeholder">This run has no workspace.</p>;
  return (
    <div className="run-files">
      <FileBrowser key={workspaceId} workspaceId={workspaceId} runId={runId} compact />
      <p className="run-files__more">
        <Link to={`/workspaces/${encodeURIComponent(workspaceId)}`}>History and full view of the workspace</Link>
      </p>
    </div>
  );
}
