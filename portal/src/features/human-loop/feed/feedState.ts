// The tenant's human-loop feed as the inbox shows it: a pure reducer over
// the frames of GET /api/human-loop/events ({seq, request}: a request in its
// state after a change). The feed is ordered by seq, so anything at or below
// the last seq applied is a replay or a duplicate and is ignored.
import type { HumanLoopRequest, StreamRequestsResponse } from "@/lib/api/types";
import { parseSeq } from "@/lib/runLog";

/** How many settled requests the inbox keeps to show under "Recently settled". */
export const SETTLED_LIMIT = 20;

export interface FeedEntry {
  /** The feed position of the request's latest change. */
  seq: number;
  request: HumanLoopRequest;
}

export interface HumanLoopFeedState {
  /** Resume the stream from here. */
  lastSeq: number;
  /** Requests waiting for an answer, oldest first. */
  pending: readonly FeedEntry[];
  /** Requests answered, expired or canceled, most recent change first (at most SETTLED_LIMIT). */
  settled: readonly FeedEntry[];
}

export const emptyFeed: HumanLoopFeedState = Object.freeze({ lastSeq: 0, pending: [], settled: [] });

function createdMs(entry: FeedEntry): number {
  const ms = Date.parse(entry.request.createdAt ?? "");
  return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
}

function oldestFirst(a: FeedEntry, b: FeedEntry): number {
  return createdMs(a) - createdMs(b) || a.seq - b.seq;
}

/** Apply a batch of feed frames. Pure; returns `state` itself when nothing changed. */
export function applyFeedChanges(
  state: HumanLoopFeedState,
  changes: readonly StreamRequestsResponse[],
): HumanLoopFeedState {
  let lastSeq = state.lastSeq;
  let pending: FeedEntry[] | null = null;
  let settled: FeedEntry[] | null = null;
  for (const change of changes) {
    const seq = parseSeq(change.seq);
    if (seq === 0 || seq <= lastSeq) continue; // a replay, a duplicate, or an older change
    lastSeq = seq;
    const request = change.request;
    const questionId = request?.questionId;
    if (!request || !questionId) continue;
    pending ??= [...state.pending];
    settled ??= [...state.settled];
    const inPending = pending.findIndex((e) => e.request.questionId === questionId);
    if (inPending !== -1) pending.splice(inPending, 1);
    const inSettled = settled.findIndex((e) => e.request.questionId === questionId);
    if (inSettled !== -1) settled.splice(inSettled, 1);
    const entry = { seq, request };
    if ((request.status ?? "HUMAN_LOOP_STATUS_PENDING") === "HUMAN_LOOP_STATUS_PENDING") {
      pending.push(entry);
    } else {
      settled.unshift(entry);
      if (settled.length > SETTLED_LIMIT) settled.length = SETTLED_LIMIT;
    }
  }
  if (lastSeq === state.lastSeq) return state;
  if (pending !== null) pending.sort(oldestFirst);
  return { lastSeq, pending: pending ?? state.pending, settled: settled ?? state.settled };
}
