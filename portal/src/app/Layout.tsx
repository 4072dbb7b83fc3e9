import { NavLink, Outlet } from "react-router-dom";
import { RailSlot } from "@/components/Rail";
import { AlertsCount } from "@/features/alerts";
import { useSession, useSignOut } from "@/features/auth";
import { InboxCount } from "@/features/human-loop";

/** Left: navigation. Centre: the page. Right: the rail the page fills. */
export function Layout() {
  const session = useSession();
  const signOut = useSignOut();
  // Alerts are ReconcileService's, which answers administrators only.
  const isAdmin = session.data?.role === "admin";
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <nav className="nav" aria-label="Main">
        <div className="nav__brand">ccplane</div>
        <ul className="nav__links">
          <li>
            <NavLink to="/" end>
              Runs
            </NavLink>
          </li>
          <li>
            <NavLink to="/inbox">
              Inbox <InboxCount />
            </NavLink>
          </li>
          <li>
            <NavLink to="/workspaces">Workspaces</NavLink>
          </li>
          {isAdmin ? (
            <li>
              <NavLink to="/alerts">
                Alerts <AlertsCount />
              </NavLink>
            </li>
          ) : null}
        </ul>
        <div className="nav__who">
          <span className="nav__identity" title={session.data?.keyId ?? ""}>
            {session.data?.tenantId ?? ""} · {session.data?.keyName || session.data?.keyId || ""}
            {isAdmin ? " (admin)" : ""}
          </span>
          <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
            Sign out
          </button>
        </div>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <Outlet />
      </main>
      <RailSlot label="Details" />
    </div>
  );
}
