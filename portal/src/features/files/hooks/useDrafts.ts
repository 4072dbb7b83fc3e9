// Unsaved edits, per workspace, kept in memory for the life of the tab: they
// survive moving between pages (the workspace page, a run's Files tab) and
// are dropped when the session ends (sign-out or a 401).
import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useSyncExternalStore } from "react";
import { onUnauthorized } from "@/lib/api/client";
import { queryKeys } from "@/lib/queryKeys";
import type { Drafts } from "../lib/drafts";

const EMPTY: Drafts = Object.freeze({});
const store = new Map<string, Drafts>();
const listeners = new Set<() => void>();
const watched = new WeakSet<QueryClient>();

function notify() {
  for (const listener of [...listeners]) listener();
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

export function clearDrafts() {
  if (store.size === 0) return;
  store.clear();
  notify();
}

onUnauthorized(clearDrafts);

/** Forget every draft when the session is cleared (sign-out). */
function watchSession(queryClient: QueryClient) {
  if (watched.has(queryClient)) return;
  watched.add(queryClient);
  queryClient.getQueryCache().subscribe((event) => {
    if (event.query.queryKey[0] !== queryKeys.session[0]) return;
    if (event.type === "removed" || (event.type === "updated" && event.query.state.data === null)) clearDrafts();
  });
}

export function useDrafts(workspaceId: string): [Drafts, (update: (drafts: Drafts) => Drafts) => void] {
  const queryClient = useQueryClient();
  useEffect(() => watchSession(queryClient), [queryClient]);
  const read = useCallback(() => store.get(workspaceId) ?? EMPTY, [workspaceId]);
  const drafts = useSyncExternalStore(subscribe, read, read);
  const setDrafts = useCallback(
    (update: (drafts: Drafts) => Drafts) => {
      const before = store.get(workspaceId) ?? EMPTY;
      const after = update(before);
      if (after === before) return;
      if (Object.keys(after).length > 0) store.set(workspaceId, after);
      else store.delete(workspaceId);
      notify();
    },
    [workspaceId],
  );
  return [drafts, setDrafts];
}
