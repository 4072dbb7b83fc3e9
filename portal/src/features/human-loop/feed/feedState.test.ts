import { describe, expect, it } from "vitest";
import type { HumanLoopRequest, HumanLoopStatus, StreamRequestsResponse } from "@/lib/api/types";
import { scriptedFetch, settle } from "@/lib/testing/fakeStream";
import { applyFeedChanges, emptyFeed, SETTLED_LIMIT } from "./feedState";
import { followHumanLoopFeed } from "./followFeed";

function request(questionId: string, status: HumanLoopStatus, minute = 0, extra: Partial<HumanLoopRequest> = {}): HumanLoopRequest {
  return {
    questionId,
    runId: "run_1",
    kind: "HUMAN_LOOP_KIND_COMMAND_APPROVAL",
    status,
    details: { commandApproval: { command: "npm test", cwd: "/ws" } },
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(),
    ...extra,
  };
}

const change = (seq: number, r: HumanLoopRequest): StreamRequestsResponse => ({ seq: String(seq), request: r });
const ids = (entries: readonly { request: HumanLoopRequest }[]) => entries.map((e) => e.request.questionId);

describe("applyFeedChanges", () => {
  it("adds a pending request", () => {
    const s = applyFeedChanges(emptyFeed, [change(1, request("q1", "HUMAN_LOOP_STATUS_PENDING"))]);
    expect(s.lastSeq).toBe(1);
    expect(ids(s.pending)).toEqual(["q1"]);
    expect(s.settled).toEqual([]);
  });

  it("keeps pending requests oldest first, whatever the order of their changes", () => {
    const s = applyFeedChanges(emptyFeed, [
      change(1, request("late", "HUMAN_LOOP_STATUS_PENDING", 5)),
      change(2, request("early", "HUMAN_LOOP_STATUS_PENDING", 1)),
      // sub-second precision varies in proto JSON: compared as times, not strings
      change(3, request("middle", "HUMAN_LOOP_STATUS_PENDING", 0, { createdAt: "2026-01-01T00:03:00.5Z" })),
    ]);
    expect(ids(s.pending)).toEqual(["early", "middle", "late"]);
  });

  it("moves a request to settled when a change with another status arrives", () => {
    let s = applyFeedChanges(emptyFeed, [
      change(1, request("q1", "HUMAN_LOOP_STATUS_PENDING")),
      change(2, request("q2", "HUMAN_LOOP_STATUS_PENDING")),
    ]);
    const resolved = request("q1", "HUMAN_LOOP_STATUS_RESOLVED", 0, {
      answer: { approval: { decision: "APPROVAL_DECISION_ACCEPT" } },
      resolvedBy: "key_1",
    });
    s = applyFeedChanges(s, [change(3, resolved)]);
    expect(ids(s.pending)).toEqual(["q2"]);
    expect(ids(s.settled)).toEqual(["q1"]);
    expect(s.settled[0]).toEqual({ seq: 3, request: resolved });
    s = applyFeedChanges(s, [change(4, request("q2", "HUMAN_LOOP_STATUS_EXPIRED"))]);
    expect(s.pending).toEqual([]);
    expect(ids(s.settled)).toEqual(["q2", "q1"]); // most recent first
  });

  it("ignores duplicates and changes older than the last seq", () => {
    const s1 = applyFeedChanges(emptyFeed, [
      change(1, request("q1", "HUMAN_LOOP_STATUS_PENDING")),
      change(2, request("q1", "HUMAN_LOOP_STATUS_RESOLVED")),
    ]);
    // A replay after a reconnect: the same frames, and an older state of q1.
    const s2 = applyFeedChanges(s1, [
      change(2, request("q1", "HUMAN_LOOP_STATUS_RESOLVED")),
      change(1, request("q1", "HUMAN_LOOP_STATUS_PENDING")),
    ]);
    expect(s2).toBe(s1);
    expect(s2.pending).toEqual([]);
    expect(ids(s2.settled)).toEqual(["q1"]);
    // Within one batch too.
    const s3 = applyFeedChanges(emptyFeed, [
      change(5, request("q1", "HUMAN_LOOP_STATUS_CANCELED")),
      change(4, request("q1", "HUMAN_LOOP_STATUS_PENDING")),
      change(5, request("q1", "HUMAN_LOOP_STATUS_PENDING")),
    ]);
    expect(s3.pending).toEqual([]);
    expect(ids(s3.settled)).toEqual(["q1"]);
  });

  it("keeps only the most recent settled requests", () => {
    const changes = Array.from({ length: SETTLED_LIMIT + 5 }, (_, i) =>
      change(i + 1, request(`q${i + 1}`, "HUMAN_LOOP_STATUS_RESOLVED")),
    );
    const s = applyFeedChanges(emptyFeed, changes);
    expect(s.settled).toHaveLength(SETTLED_LIMIT);
    expect(s.settled[0].request.questionId).toBe(`q${SETTLED_LIMIT + 5}`);
    expect(s.lastSeq).toBe(SETTLED_LIMIT + 5);
  });

  it("advances past frames without a request", () => {
    const s = applyFeedChanges(emptyFeed, [{ seq: "7" }]);
    expect(s.lastSeq).toBe(7);
    expect(s.pending).toEqual([]);
  });
});

describe("followHumanLoopFeed", () => {
  it("reconnects after the body ends (the feed never ends) and resumes from the last seq", async () => {
    const fake = scriptedFetch();
    const follower = followHumanLoopFeed({ fetch: fake.fetch, sleep: async () => {} });
    const first = await fake.connection(1);
    expect(first.url).toBe("/api/human-loop/events?pendingOnly=true");
    first.frame(change(1, request("q1", "HUMAN_LOOP_STATUS_PENDING")), "human_loop.request", 1);
    first.frame(change(2, request("q2", "HUMAN_LOOP_STATUS_PENDING")), "human_loop.request", 2);
    await settle();
    expect(follower.connection.getState().state).toBe("live");
    first.end();
    const second = await fake.connection(2);
    expect(second.url).toBe("/api/human-loop/events?pendingOnly=true&afterSeq=2");
    second.frame(change(2, request("q2", "HUMAN_LOOP_STATUS_PENDING")), "human_loop.request", 2); // replayed
    second.frame(change(3, request("q1", "HUMAN_LOOP_STATUS_RESOLVED")), "human_loop.request", 3);
    await settle();
    const state = follower.store.getState();
    expect(ids(state.pending)).toEqual(["q2"]);
    expect(ids(state.settled)).toEqual(["q1"]);
    follower.close();
    await follower.done;
    expect(follower.connection.getState().state).toBe("ended");
  });
});
