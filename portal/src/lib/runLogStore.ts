// One small store per run, fed by the run's event stream.
//
// Events arriving in one network read are applied as one batch (a microtask
// later), so a burst of message deltas is one state change, not one per
// token. The store decides where the stream resumes (its `lastSeq`), and
// when a gap shows up it asks the stream to reconnect from there to refill.
//
// A long log is caught up first through `GET /api/runs/{id}/events:list`,
// thousands of events per answer (an SSE replay costs the server a message
// per event), then the stream follows live from the last seq.
import { useCallback, useSyncExternalStore } from "react";
import { createStore, type StoreApi } from "zustand/vanilla";
import { notifyUnauthorized } from "./api/client";
import type { ApiError } from "./api/errors";
import type { ListRunEventsResponse, RunEvent } from "./api/types";
import { createBatchedStore, type BatchedStore } from "./batchedStore";
import { applyEvents, emptyRunLog, type RunLogState } from "./runLog";
import { openStream, type ConnectionState, type StreamHandle, type StreamOptions } from "./sse";

export type RunLogStore = BatchedStore<RunLogState, RunEvent>;

export function createRunLogStore(initial: RunLogState = emptyRunLog): RunLogStore {
  return createBatchedStore(initial, applyEvents);
}

export interface ConnectionInfo {
  state: ConnectionState;
  /** The last error the stream reported (cleared when it is live again). */
  error: ApiError | null;
}

export interface RunLogFollower {
  runId: string;
  store: StoreApi<RunLogState>;
  connection: StoreApi<ConnectionInfo>;
  close(): void;
  /**
   * Open the stream again after it ended (the run's log ended with the run,
   * and a follow-up message has started it again); resumes from `lastSeq`.
   * Does nothing while the stream is still open or after close().
   */
  resume(): void;
  /** Resolves when the (current) stream has ended. */
  readonly done: Promise<void>;
}

export type FollowOptions = Pick<StreamOptions<RunEvent>, "fetch" | "sleep" | "initialBackoffMs" | "maxBackoffMs"> & {
  /** Events per page of the catch-up before the stream opens (0: replay through the stream). */
  historyPageSize?: number;
};

const HISTORY_PAGE_SIZE = 5000;

/**
 * Load the log after the store's `lastSeq` page by page into `log`. Stops at
 * the end of the log as it stood, on any failure (the stream replays what is
 * missing anyway), or when `signal` aborts.
 */
async function catchUp(
  runId: string,
  log: RunLogStore,
  pageSize: number,
  fetchImpl: typeof fetch,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    log.flush();
    const after = log.store.getState().lastSeq;
    const url = `/api/runs/${encodeURIComponent(runId)}/events:list?afterSeq=${after}&pageSize=${pageSize}`;
    let page: ListRunEventsResponse;
    try {
      const response = await fetchImpl(url, { credentials: "same-origin", signal });
      if (response.status === 401) {
        notifyUnauthorized();
        return;
      }
      if (!response.ok) return;
      page = (await response.json()) as ListRunEventsResponse;
    } catch {
      return;
    }
    for (const event of page.events ?? []) log.push(event);
    log.flush();
    if (!page.nextPageToken || !page.events?.length || signal.aborted) return;
  }
}

/** Stream a run's log into a new store, resuming and refilling by seq. */
export function followRunLog(runId: string, options: FollowOptions = {}): RunLogFollower {
  const { historyPageSize = HISTORY_PAGE_SIZE, ...streamOptions } = options;
  const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  const log = createRunLogStore();
  const connection = createStore<ConnectionInfo>(() => ({ state: "connecting", error: null }));
  let refilling = false;
  let closed = false;
  let stream: StreamHandle | null = null;
  let abort = new AbortController();

  const openLive = (): StreamHandle =>
    openStream<RunEvent>({
      ...streamOptions,
      url: `/api/runs/${encodeURIComponent(runId)}/events`,
      cursor: () => {
        log.flush();
        return log.store.getState().lastSeq;
      },
      onMessage: ({ data }) => log.push(data),
      onStateChange: (state) =>
        connection.setState(state === "live" ? { state, error: null } : { state }),
      onError: (error) => connection.setState({ error }),
    });

  // Catch up in pages, then follow live; `done` settles when that stream ends.
  const start = async (): Promise<void> => {
    abort = new AbortController();
    if (historyPageSize > 0) await catchUp(runId, log, historyPageSize, fetchImpl, abort.signal);
    if (closed) return;
    stream = openLive();
    await stream.done;
    log.flush();
  };
  let done = start();

  // A gap: reconnect once from the prefix's end; the replay fills it.
  const unsubscribe = log.store.subscribe((state) => {
    if (state.needsRefill && !refilling && stream) {
      refilling = true;
      stream.restart();
    } else if (!state.needsRefill) {
      refilling = false;
    }
  });

  return {
    runId,
    store: log.store,
    connection,
    close: () => {
      closed = true;
      unsubscribe();
      abort.abort();
      stream?.close();
    },
    resume: () => {
      if (closed || !stream || stream.state !== "ended") return;
      refilling = false;
      stream = null;
      connection.setState({ state: "connecting", error: null });
      done = start();
    },
    get done() {
      return done;
    },
  };
}

// -- React ------------------------------------------------------------------------
// Followers are shared by every component showing the same run, and closed
// shortly after the last one unmounts (so a StrictMode remount reuses it).

interface Shared {
  follower: RunLogFollower;
  refs: number;
  closeTimer: ReturnType<typeof setTimeout> | null;
}
const shared = new Map<string, Shared>();

function acquire(runId: string): Shared {
  let entry = shared.get(runId);
  if (!entry) {
    entry = { follower: followRunLog(runId), refs: 0, closeTimer: null };
    shared.set(runId, entry);
  }
  if (entry.closeTimer !== null) clearTimeout(entry.closeTimer);
  entry.closeTimer = null;
  entry.refs += 1;
  return entry;
}

function release(runId: string): void {
  const entry = shared.get(runId);
  if (!entry) return;
  entry.refs -= 1;
  if (entry.refs > 0) return;
  entry.closeTimer = setTimeout(() => {
    entry.follower.close();
    shared.delete(runId);
  }, 1000);
}

const disconnected: ConnectionInfo = { state: "connecting", error: null };

function useShared<T>(runId: string, pick: (f: RunLogFollower) => StoreApi<T>, fallback: T): T {
  const subscribe = useCallback(
    (onChange: () => void) => {
      const entry = acquire(runId);
      const unsubscribe = pick(entry.follower).subscribe(onChange);
      onChange();
      return () => {
        unsubscribe();
        release(runId);
      };
    },
    // `pick` is one of the two module-level functions below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [runId],
  );
  const snapshot = () => {
    const entry = shared.get(runId);
    return entry ? pick(entry.follower).getState() : fallback;
  };
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}

const pickLog = (f: RunLogFollower) => f.store;
const pickConnection = (f: RunLogFollower) => f.connection;

/** The run's log, live. Select what you render: `useRunLog(id).items`. */
export function useRunLog(runId: string): RunLogState {
  return useShared(runId, pickLog, emptyRunLog);
}

/** The run's stream connection, for a ConnectionIndicator. */
export function useRunConnection(runId: string): ConnectionInfo {
  return useShared(runId, pickConnection, disconnected);
}

/**
 * Resume the shared stream of a run whose log had ended (after a follow-up
 * message started the run again). Nothing happens when no one follows it.
 */
export function resumeRunLog(runId: string): void {
  shared.get(runId)?.follower.resume();
}
