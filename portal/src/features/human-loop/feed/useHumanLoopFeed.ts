// The app-wide human-loop feed: every component reading it shares one stream.
import type { ConnectionInfo } from "@/lib/runLogStore";
import { createSharedRegistry, useSharedStore } from "../shared";
import { emptyFeed, type HumanLoopFeedState } from "./feedState";
import { followHumanLoopFeed, type HumanLoopFeedFollower } from "./followFeed";

const TENANT = "tenant"; // the cookie decides whose feed; one key is enough
const registry = createSharedRegistry<HumanLoopFeedFollower>(() => followHumanLoopFeed());
const pickState = (f: HumanLoopFeedFollower) => f.store;
const pickConnection = (f: HumanLoopFeedFollower) => f.connection;
const connecting: ConnectionInfo = { state: "connecting", error: null };

/** The tenant's pending and recently settled requests, live. */
export function useHumanLoopFeed(): HumanLoopFeedState {
  return useSharedStore(registry, TENANT, pickState, emptyFeed);
}

/** The feed's stream, for a ConnectionIndicator. */
export function useHumanLoopFeedConnection(): ConnectionInfo {
  return useSharedStore(registry, TENANT, pickConnection, connecting);
}

/** How many requests wait for an answer, live. */
export function usePendingCount(): number {
  return useHumanLoopFeed().pending.length;
}
