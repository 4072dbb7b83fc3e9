import { createBrowserRouter, Link } from "react-router-dom";
import { AlertsPage } from "@/features/alerts";
import { SignInPage } from "@/features/auth";
import { WorkspacePage, WorkspacesPage } from "@/features/files";
import { InboxPage } from "@/features/human-loop";
import { RunPage, RunsPage } from "@/features/runs";
import { Layout } from "./Layout";
import { RequireSession } from "./RequireSession";

function NotFound() {
  return (
    <section className="page">
      <h1>Not found</h1>
      <p>
        Nothing lives at this address. <Link to="/">Go to runs</Link>.
      </p>
    </section>
  );
}

export const router = createBrowserRouter([
  { path: "/sign-in", element: <SignInPage /> },
  {
    path: "/",
    element: (
      <RequireSession>
        <Layout />
      </RequireSession>
    ),
    children: [
      { index: true, element: <RunsPage /> },
      { path: "runs/:runId", element: <RunPage /> },
      { path: "inbox", element: <InboxPage /> },
      { path: "workspaces", element: <WorkspacesPage /> },
      { path: "workspaces/:workspaceId", element: <WorkspacePage /> },
      { path: "alerts", element: <AlertsPage /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
