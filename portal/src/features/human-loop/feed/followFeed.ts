// The tenant's human-loop feed, streamed into a store: one stream per page
// load, resumed from the last seq after any disconnect (the feed never ends).
import { createStore, type StoreApi } from "zustand/vanilla";
import type { StreamRequestsResponse } from "@/lib/api/types";
import type { ConnectionInfo } from "@/lib/runLogStore";
import { createBatchedStore } from "@/lib/batchedStore";
import { openStream, type StreamOptions } from "@/lib/sse";
import { applyFeedChanges, emptyFeed, type HumanLoopFeedState } from "./feedState";

// pendingOnly: a fresh page starts from what waits now, not the tenant's whole
// history; the server ignores it when resuming from a cursor.
export const FEED_URL = "/api/human-loop/events?pendingOnly=true";

export interface HumanLoopFeedFollower {
  store: StoreApi<HumanLoopFeedState>;
  connection: StoreApi<ConnectionInfo>;
  close(): void;
  done: Promise<void>;
}

export type FeedOptions = Pick<
  StreamOptions<StreamRequestsResponse>,
  "fetch" | "sleep" | "initialBackoffMs" | "maxBackoffMs"
>;

export function followHumanLoopFeed(options: FeedOptions = {}): HumanLoopFeedFollower {
  const { store, push, flush } = createBatchedStore(emptyFeed, applyFeedChanges);
  const connection = createStore<ConnectionInfo>(() => ({ state: "connecting", error: null }));
  const stream = openStream<StreamRequestsResponse>({
    ...options,
    url: FEED_URL,
    endOnClose: false,
    cursor: () => {
      flush();
      return store.getState().lastSeq;
    },
    onMessage: ({ data }) => push(data),
    onStateChange: (state) => connection.setState(state === "live" ? { state, error: null } : { state }),
    onError: (error) => connection.setState({ error }),
  });
  const done = stream.done.then(flush);
  return { store, connection, close: () => stream.close(), done };
}
