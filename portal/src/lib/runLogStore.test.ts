import { describe, expect, it } from "vitest";
import { followRunLog } from "./runLogStore";
import { ev, scriptedFetch, settle } from "./testing/fakeStream";

const page = (events: unknown[], more: boolean) =>
  new Response(JSON.stringify({ events, lastSeq: "9", ...(more ? { nextPageToken: "t" } : {}) }), {
    status: 200,
    headers: { "content-type": "application/json" },
  });

const warning = (seq: number) => ev(seq, "warning", { warning: { message: `w${seq}` } });

describe("followRunLog", () => {
  it("resumes from the store's last seq after a disconnect, without duplicates", async () => {
    const fake = scriptedFetch();
    const follower = followRunLog("run_1", { fetch: fake.fetch, sleep: async () => {}, historyPageSize: 0 });
    const first = await fake.connection(1);
    expect(first.url).toBe("/api/runs/run_1/events");
    first.frame(warning(1), "warning", 1);
    first.frame(warning(2), "warning", 2);
    await settle();
    first.fail();
    const second = await fake.connection(2);
    expect(second.url).toBe("/api/runs/run_1/events?afterSeq=2");
    second.frame(warning(2), "warning", 2); // a replayed duplicate
    second.frame(warning(3), "warning", 3);
    second.end();
    await follower.done;
    const state = follower.store.getState();
    expect(state.lastSeq).toBe(3);
    expect(state.items).toHaveLength(3);
    expect(follower.connection.getState().state).toBe("ended");
  });

  it("refills a gap by reconnecting from the end of the contiguous prefix", async () => {
    const fake = scriptedFetch();
    const follower = followRunLog("run_1", { fetch: fake.fetch, sleep: async () => {}, historyPageSize: 0 });
    const first = await fake.connection(1);
    first.frame(warning(1));
    first.frame(warning(3)); // 2 is missing
    const refill = await fake.connection(2);
    expect(refill.url).toBe("/api/runs/run_1/events?afterSeq=1");
    expect(first.aborted).toBe(true);
    expect(follower.store.getState().needsRefill).toBe(true);
    refill.frame(warning(2));
    refill.frame(warning(3));
    refill.frame(warning(4));
    await settle();
    const state = follower.store.getState();
    expect(state.needsRefill).toBe(false);
    expect(state.items.map((i) => i.seq)).toEqual([1, 2, 3, 4]);
    follower.close();
    await follower.done;
  });

  it("resumes after the log ended (a follow-up), from the last seq", async () => {
    const fake = scriptedFetch();
    const follower = followRunLog("run_1", { fetch: fake.fetch, sleep: async () => {}, historyPageSize: 0 });
    const first = await fake.connection(1);
    first.frame(warning(1));
    first.frame(warning(2));
    first.end();
    await follower.done;
    expect(follower.connection.getState().state).toBe("ended");
    follower.resume();
    const second = await fake.connection(2);
    expect(second.url).toBe("/api/runs/run_1/events?afterSeq=2");
    second.frame(warning(3));
    second.end();
    await follower.done;
    expect(follower.store.getState().items.map((i) => i.seq)).toEqual([1, 2, 3]);
    follower.resume(); // ended again: a later resume opens a third stream
    const third = await fake.connection(3);
    follower.close();
    expect(third.aborted).toBe(true);
    await follower.done;
  });

  it("catches up in pages, then streams live from the last seq", async () => {
    const fake = scriptedFetch([
      page([warning(1), warning(2), warning(3)], true),
      page([warning(3), warning(4)], false), // an overlap is harmless
    ]);
    const follower = followRunLog("run_1", { fetch: fake.fetch, sleep: async () => {}, historyPageSize: 3 });
    const live = await fake.connection(3);
    expect(fake.calls.map((c) => c.url)).toEqual([
      "/api/runs/run_1/events:list?afterSeq=0&pageSize=3",
      "/api/runs/run_1/events:list?afterSeq=3&pageSize=3",
      "/api/runs/run_1/events?afterSeq=4",
    ]);
    live.frame(warning(5));
    live.end();
    await follower.done;
    expect(follower.store.getState().items.map((i) => i.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("falls back to the stream when a page cannot be read", async () => {
    const fake = scriptedFetch([new Response("{}", { status: 503 })]);
    const follower = followRunLog("run_1", { fetch: fake.fetch, sleep: async () => {}, historyPageSize: 100 });
    const live = await fake.connection(2);
    expect(live.url).toBe("/api/runs/run_1/events");
    live.frame(warning(1));
    live.end();
    await follower.done;
    expect(follower.store.getState().lastSeq).toBe(1);
  });
});
