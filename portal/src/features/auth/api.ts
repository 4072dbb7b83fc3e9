// Who is signed in: GET/POST/DELETE /api/session (the gateway sets and clears
// an HttpOnly cookie; the portal never sees the key again).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "@/lib/api/client";
import { ApiError } from "@/lib/api/errors";
import type { Session } from "@/lib/api/types";
import { queryKeys } from "@/lib/queryKeys";

/** The session, or null when nobody is signed in. */
async function fetchSession(): Promise<Session | null> {
  try {
    return toSession(await call(api.GET("/api/session")));
  } catch (error) {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED") return null;
    throw error;
  }
}

// GET answers `{session: {...}}`, POST the session itself: accept both.
function toSession(body: unknown): Session {
  if (typeof body === "object" && body !== null && "session" in body) {
    return ((body as { session?: Session }).session ?? {}) as Session;
  }
  return (body ?? {}) as Session;
}

export function useSession() {
  return useQuery<Session | null, ApiError>({
    queryKey: queryKeys.session,
    queryFn: fetchSession,
    staleTime: 5 * 60_000,
    retry: false,
  });
}

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation<Session, ApiError, { apiKey: string }>({
    mutationFn: async ({ apiKey }) => toSession(await call(api.POST("/api/session", { body: { apiKey } }))),
    onSuccess: (session) => queryClient.setQueryData(queryKeys.session, session),
  });
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation<unknown, ApiError>({
    mutationFn: async () => {
      await call(api.DELETE("/api/session"));
    },
    onSettled: () => {
      // Signed out whatever the answer; nothing of the tenant stays in memory.
      queryClient.setQueryData(queryKeys.session, null);
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== queryKeys.session[0] });
    },
  });
}
