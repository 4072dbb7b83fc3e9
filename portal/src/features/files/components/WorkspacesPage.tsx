// The tenant's workspaces, and a small form to make a new one.
import { useId, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { RelativeTime } from "@/components/Time";
import { useCreateWorkspace, useWorkspaces } from "../api/workspaces";

function NewWorkspaceForm() {
  const create = useCreateWorkspace();
  const navigate = useNavigate();
  const nameId = useId();
  const [name, setName] = useState("");
  // One id per intended workspace: a retry after a lost answer does not make two.
  const [requestId, setRequestId] = useState(() => crypto.randomUUID());

  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate(
      { name: name.trim(), requestId },
      {
        onSuccess: (workspace) => {
          setName("");
          setRequestId(crypto.randomUUID());
          if (workspace.id) navigate(`/workspaces/${encodeURIComponent(workspace.id)}`);
        },
      },
    );
  };

  return (
    <form className="new-workspace" onSubmit={submit} aria-label="New workspace">
      <label htmlFor={nameId}>Workspace name</label>
      <input
        id={nameId}
        value={name}
        placeholder="e.g. billing-service"
        maxLength={200}
        onChange={(e) => {
          setName(e.target.value);
          setRequestId(crypto.randomUUID());
        }}
      />
      <button type="submit" disabled={create.isPending || name.trim() === ""}>
        {create.isPending ? "Creating…" : "Create workspace"}
      </button>
      {create.error && <ErrorBanner error={create.error} />}
    </form>
  );
}

export function WorkspacesPage() {
  const workspaces = useWorkspaces();
  const list = workspaces.data?.pages.flatMap((page) => page.workspaces ?? []) ?? [];
  return (
    <section className="page">
      <header className="page__header">
        <h1>Workspaces</h1>
      </header>
      <NewWorkspaceForm />
      {workspaces.isPending && <Spinner label="Loading workspaces…" />}
      {workspaces.error && <ErrorBanner error={workspaces.error} onRetry={() => void workspaces.refetch()} />}
      {workspaces.data && list.length === 0 && <p className="placeholder">No workspaces yet. Create one above.</p>}
      {list.length > 0 && (
        <table className="workspaces-table">
          <caption className="visually-hidden">Workspaces</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">ID</th>
              <th scope="col">Version</th>
              <th scope="col">Files</th>
              <th scope="col">Updated</th>
              <th scope="col">In use by</th>
            </tr>
          </thead>
          <tbody>
            {list.map((ws) => (
              <tr key={ws.id}>
                <td>
                  <Link to={`/workspaces/${encodeURIComponent(ws.id ?? "")}`}>{ws.name || ws.id}</Link>
                </td>
                <td>
                  <code>{ws.id}</code>
                </td>
                <td>{ws.currentVersion ?? "0"}</td>
                <td>{ws.fileCount ?? "0"}</td>
                <td>
                  <RelativeTime time={ws.updatedAt} />
                </td>
                <td>
                  {ws.lockedByRunId ? (
                    <Link to={`/runs/${encodeURIComponent(ws.lockedByRunId)}`}>run {ws.lockedByRunId}</Link>
                  ) : (
                    <span className="hint">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {workspaces.hasNextPage && (
        <button type="button" onClick={() => void workspaces.fetchNextPage()} disabled={workspaces.isFetchingNextPage}>
          {workspaces.isFetchingNextPage ? "Loading…" : "Show more"}
        </button>
      )}
    </section>
  );
}
