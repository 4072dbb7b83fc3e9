// Followers (a stream and its stores) shared by every component that shows
// the same thing, closed shortly after the last one unmounts (so a
// StrictMode remount, or moving between pages, reuses the stream).
import { useCallback, useSyncExternalStore } from "react";
import type { StoreApi } from "zustand/vanilla";

export interface Closable {
  close(): void;
}

export interface SharedRegistry<F extends Closable> {
  acquire(key: string): F;
  release(key: string): void;
  peek(key: string): F | undefined;
}

export function createSharedRegistry<F extends Closable>(
  create: (key: string) => F,
  closeDelayMs = 1000,
): SharedRegistry<F> {
  const entries = new Map<string, { follower: F; refs: number; closeTimer: ReturnType<typeof setTimeout> | null }>();
  return {
    acquire(key) {
      let entry = entries.get(key);
      if (!entry) {
        entry = { follower: create(key), refs: 0, closeTimer: null };
        entries.set(key, entry);
      }
      if (entry.closeTimer !== null) clearTimeout(entry.closeTimer);
      entry.closeTimer = null;
      entry.refs += 1;
      return entry.follower;
    },
    release(key) {
      const entry = entries.get(key);
      if (!entry) return;
      entry.refs -= 1;
      if (entry.refs > 0) return;
      entry.closeTimer = setTimeout(() => {
        entry.follower.close();
        entries.delete(key);
      }, closeDelayMs);
    },
    peek(key) {
      return entries.get(key)?.follower;
    },
  };
}

/** Subscribe to one store of a shared follower; `pick` must be a module-level function. */
export function useSharedStore<F extends Closable, T>(
  registry: SharedRegistry<F>,
  key: string,
  pick: (follower: F) => StoreApi<T>,
  fallback: T,
): T {
  const subscribe = useCallback(
    (onChange: () => void) => {
      const follower = registry.acquire(key);
      const unsubscribe = pick(follower).subscribe(onChange);
      onChange();
      return () => {
        unsubscribe();
        registry.release(key);
      };
    },
    [registry, key, pick],
  );
  const snapshot = () => {
    const follower = registry.peek(key);
    return follower ? pick(follower).getState() : fallback;
  };
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
