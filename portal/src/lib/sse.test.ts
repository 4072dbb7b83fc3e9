import { afterEach, describe, expect, it, vi } from "vitest";
import { onUnauthorized } from "./api/client";
import type { ApiError } from "./api/errors";
import { openStream, SseParser, type ConnectionState } from "./sse";
import { scriptedFetch, settle, statusResponse } from "./testing/fakeStream";

describe("SseParser", () => {
  it("parses id, event, multi-line data and skips comments", () => {
    const parser = new SseParser();
    const frames = parser.push(': keep-alive\n\nid: 7\nevent: message.delta\ndata: {"a":\ndata: 1}\n\n');
    expect(frames).toEqual([{ id: "7", event: "message.delta", data: '{"a":\n1}' }]);
  });

  it("handles frames split across chunks and CRLF line ends", () => {
    const parser = new SseParser();
    expect(parser.push("id: 1\r\ndata: {\"x\"")).toEqual([]);
    expect(parser.push(":1}\r")).toEqual([]);
    expect(parser.push("\n\r\n")).toEqual([{ id: "1", event: "message", data: '{"x":1}' }]);
  });
});

interface Harness {
  states: ConnectionState[];
  errors: ApiError[];
  messages: unknown[];
  delays: number[];
  cursor: number | null;
}

function start(fake: ReturnType<typeof scriptedFetch>, extra: { endOnClose?: boolean } = {}) {
  const h: Harness = { states: [], errors: [], messages: [], delays: [], cursor: null };
  const handle = openStream<{ seq: string }>({
    url: "/api/runs/run_1/events",
    cursor: () => h.cursor,
    onMessage: ({ data }) => {
      h.messages.push(data);
      h.cursor = Number(data.seq);
    },
    onStateChange: (s) => h.states.push(s),
    onError: (e) => h.errors.push(e),
    fetch: fake.fetch,
    sleep: async (ms) => {
      h.delays.push(ms);
    },
    ...extra,
  });
  return { h, handle };
}

describe("openStream", () => {
  afterEach(() => vi.restoreAllMocks());

  it("goes live, delivers messages and ends at a normal end of body", async () => {
    const fake = scriptedFetch();
    const { h, handle } = start(fake);
    const c = await fake.connection(1);
    expect(c.url).toBe("/api/runs/run_1/events");
    expect(c.headers.get("accept")).toBe("text/event-stream");
    c.frame({ seq: "1" }, "run.status_changed", 1);
    c.frame({ seq: "2" }, "message.delta", 2);
    c.end();
    await handle.done;
    expect(h.messages).toEqual([{ seq: "1" }, { seq: "2" }]);
    expect(h.states).toEqual(["live", "ended"]);
    expect(fake.calls).toHaveLength(1);
  });

  it("reconnects after a broken connection, resuming from the consumer's cursor", async () => {
    const fake = scriptedFetch();
    const { h, handle } = start(fake);
    const first = await fake.connection(1);
    first.frame({ seq: "1" });
    first.frame({ seq: "2" });
    await settle();
    first.fail();
    const second = await fake.connection(2);
    expect(second.url).toBe("/api/runs/run_1/events?afterSeq=2");
    await settle();
    expect(h.states).toEqual(["live", "reconnecting", "live"]);
    expect(h.errors.map((e) => e.code)).toEqual(["NETWORK"]);
    handle.close();
    await handle.done;
    expect(h.states.at(-1)).toBe("ended");
  });

  it("backs off 250 ms doubling to 5 s while the server is unavailable", async () => {
    const replies = Array.from({ length: 7 }, () => statusResponse(503, 14, "unavailable"));
    const fake = scriptedFetch(replies);
    const { h, handle } = start(fake);
    await fake.connection(8);
    expect(h.delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000]);
    expect(h.errors[0].sentence).toBe("Unavailable.");
    handle.close();
    await handle.done;
  });

  it("reconnects when a feed that never ends closes, if told so", async () => {
    const fake = scriptedFetch();
    const { handle } = start(fake, { endOnClose: false });
    (await fake.connection(1)).end();
    await fake.connection(2);
    handle.close();
    await handle.done;
  });

  it("stops on 401 and tells the app", async () => {
    const notified = vi.fn();
    const unsubscribe = onUnauthorized(notified);
    const fake = scriptedFetch([statusResponse(401, 16, "no credential")]);
    const { h, handle } = start(fake);
    await handle.done;
    unsubscribe();
    expect(notified).toHaveBeenCalledTimes(1);
    expect(h.states).toEqual(["ended"]);
    expect(h.errors[0].code).toBe("UNAUTHENTICATED");
    expect(fake.calls).toHaveLength(1);
  });

  it("surfaces an error frame and reconnects unless it is final", async () => {
    const fake = scriptedFetch();
    const { h, handle } = start(fake);
    const first = await fake.connection(1);
    first.frame({ seq: "1" });
    first.frame({ code: 14, message: "control plane restarting" }, "error");
    const second = await fake.connection(2);
    expect(second.url).toContain("afterSeq=1");
    expect(h.errors[0].sentence).toBe("Control plane restarting.");
    second.frame({ code: 5, message: "run not found" }, "error");
    await handle.done;
    expect(h.errors[1].code).toBe("NOT_FOUND");
    expect(fake.calls).toHaveLength(2);
    expect(h.states.at(-1)).toBe("ended");
  });

  it("restart() reconnects at once from the current cursor", async () => {
    const fake = scriptedFetch();
    const { h, handle } = start(fake);
    const first = await fake.connection(1);
    first.frame({ seq: "3" });
    await settle();
    handle.restart();
    const second = await fake.connection(2);
    expect(second.url).toBe("/api/runs/run_1/events?afterSeq=3");
    expect(first.aborted).toBe(true);
    expect(h.delays).toEqual([]);
    handle.close();
    await handle.done;
  });
});
