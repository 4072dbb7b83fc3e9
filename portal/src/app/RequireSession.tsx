import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { useSession } from "@/features/auth";

/** Renders its children for a signed-in person; otherwise goes to sign-in, remembering the page. */
export function RequireSession({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <Spinner label="Checking your session…" />;
  if (session.error) return <ErrorBanner error={session.error} onRetry={() => void session.refetch()} />;
  if (session.data === null) {
    const next = location.pathname + location.search + location.hash;
    return <Navigate to={`/sign-in?next=${encodeURIComponent(next)}`} replace />;
  }
  return children;
}
