// One workspace: its files (tree, editor, upload) and, in the rail, its history.
import { useParams } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Rail } from "@/components/Rail";
import { RelativeTime } from "@/components/Time";
import { useWorkspace } from "../api/workspaces";
import { formatBytes } from "../lib/content";
import { AuditList } from "./AuditList";
import { FileBrowser } from "./FileBrowser";

export function WorkspacePage() {
  const { workspaceId = "" } = useParams();
  const workspace = useWorkspace(workspaceId);
  const ws = workspace.data;
  return (
    <section className="page workspace-page">
      <header className="page__header">
        <h1>{ws?.name || workspaceId}</h1>
        {ws && (
          <span className="workspace-page__meta">
            <code>{workspaceId}</code> · version {ws.currentVersion ?? "0"} · {ws.fileCount ?? "0"} {ws.fileCount === "1" ? "file" : "files"} ·{" "}
            {formatBytes(Number(ws.sizeBytes ?? 0))} · updated <RelativeTime time={ws.updatedAt} />
          </span>
        )}
      </header>
      {workspace.error ? (
        <ErrorBanner error={workspace.error} onRetry={() => void workspace.refetch()} />
      ) : (
        <FileBrowser key={workspaceId} workspaceId={workspaceId} />
      )}
      <Rail>
        <AuditList workspaceId={workspaceId} />
      </Rail>
    </section>
  );
}
