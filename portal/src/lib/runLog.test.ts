import { describe, expect, it } from "vitest";
import type { RunEvent } from "./api/types";
import { applyEvents, emptyRunLog, parseSeq, type TimelineItem } from "./runLog";
import { ev } from "./testing/fakeStream";

const delta = (seq: number, itemId: string, text: string) => ev(seq, "message.delta", { messageDelta: { itemId, delta: text } });
const kinds = (items: readonly TimelineItem[]) => items.map((i) => i.kind);

describe("applyEvents", () => {
  it("parses int64 seqs and drops unpersisted events", () => {
    expect(parseSeq("42")).toBe(42);
    expect(parseSeq(undefined)).toBe(0);
    const state = applyEvents(emptyRunLog, [{ ...ev(1, "warning"), seq: "0" }]);
    expect(state.lastSeq).toBe(0);
  });

  it("drops duplicates", () => {
    const a = ev(1, "message.user", { userMessage: { itemId: "u1", text: "hi" } });
    const once = applyEvents(emptyRunLog, [a]);
    const twice = applyEvents(once, [a, a]);
    expect(twice.items).toHaveLength(1);
    expect(twice.lastSeq).toBe(1);
    expect(twice.eventCount).toBe(1);
  });

  it("holds events beyond a gap and asks for a refill from the prefix end", () => {
    const s1 = applyEvents(emptyRunLog, [ev(1, "warning", { warning: { message: "a" } })]);
    const s2 = applyEvents(s1, [ev(3, "warning", { warning: { message: "c" } }), ev(4, "warning", { warning: { message: "d" } })]);
    expect(s2.lastSeq).toBe(1);
    expect(s2.needsRefill).toBe(true);
    expect(s2.items).toHaveLength(1);
    // The replay after seq 1 fills the gap; 3 and 4 arrive again and are not doubled.
    const s3 = applyEvents(s2, [
      ev(2, "warning", { warning: { message: "b" } }),
      ev(3, "warning", { warning: { message: "c" } }),
      ev(4, "warning", { warning: { message: "d" } }),
    ]);
    expect(s3.needsRefill).toBe(false);
    expect(s3.lastSeq).toBe(4);
    expect(s3.items.map((i) => (i.kind === "warning" ? i.message : ""))).toEqual(["a", "b", "c", "d"]);
  });

  it("orders by seq whatever the arrival order", () => {
    const s = applyEvents(emptyRunLog, [
      ev(2, "message.user", { userMessage: { itemId: "u", text: "x" } }),
      ev(3, "command.started", { commandStarted: { itemId: "c", command: "ls", cwd: "/w" } }),
      ev(1, "run.status_changed", { statusChanged: { status: "RUN_STATUS_RUNNING" } }),
    ]);
    expect(kinds(s.items)).toEqual(["status", "user_message", "command"]);
    expect(s.status).toBe("RUN_STATUS_RUNNING");
  });

  it("assembles message deltas into one item, replaced by message.completed", () => {
    let s = applyEvents(emptyRunLog, [delta(1, "m1", "Hel"), delta(2, "m1", "lo")]);
    s = applyEvents(s, [delta(3, "m1", ", wor")]);
    expect(s.items).toEqual([expect.objectContaining({ kind: "agent_message", text: "Hello, wor", streaming: true, seq: 1, lastSeq: 3 })]);
    s = applyEvents(s, [ev(4, "message.completed", { messageCompleted: { itemId: "m1", text: "Hello, world." } })]);
    expect(s.items).toHaveLength(1);
    expect(s.items[0]).toMatchObject({ text: "Hello, world.", streaming: false });
  });

  it("assembles command output and completes the command", () => {
    const s = applyEvents(emptyRunLog, [
      ev(1, "command.started", { commandStarted: { itemId: "c1", command: "npm test", cwd: "/ws" } }),
      ev(2, "command.output", { commandOutput: { itemId: "c1", chunk: "a\n" } }),
      ev(3, "command.output", { commandOutput: { itemId: "c1", chunk: "b\n" } }),
    ]);
    expect(s.items[0]).toMatchObject({ kind: "command", output: "a\nb\n", state: "running" });
    const done = applyEvents(s, [
      ev(4, "command.completed", {
        commandCompleted: { itemId: "c1", status: "COMMAND_STATUS_FAILED", exitCode: 1, durationMs: "2100", output: "" },
      }),
    ]);
    expect(done.items).toHaveLength(1);
    expect(done.items[0]).toMatchObject({ command: "npm test", cwd: "/ws", output: "a\nb\n", state: "failed", exitCode: 1, durationMs: 2100 });
  });

  it("follows a human-loop request from requested to resolved", () => {
    const requested = ev(1, "human_loop.requested", {
      humanLoopRequested: {
        questionId: "q1",
        kind: "HUMAN_LOOP_KIND_COMMAND_APPROVAL",
        details: { commandApproval: { command: "rm -rf build", cwd: "/ws" } },
        expiresAt: "2026-01-01T01:00:00Z",
      },
    });
    let s = applyEvents(emptyRunLog, [requested]);
    expect(s.pendingQuestions).toEqual(["q1"]);
    expect(s.items[0]).toMatchObject({ kind: "human_loop", state: "pending", expiresAt: "2026-01-01T01:00:00Z" });
    const resolved = ev(2, "human_loop.resolved", {
      humanLoopResolved: { questionId: "q1", resolvedBy: "key_1", answer: { text: "ok" } },
    });
    s = applyEvents(s, [resolved]);
    expect(s.pendingQuestions).toEqual([]);
    expect(s.items).toHaveLength(1);
    expect(s.items[0]).toMatchObject({ state: "resolved", resolvedBy: "key_1", answer: { text: "ok" }, settledAt: resolved.time });
  });

  it("keeps one turn diff per turn, the latest", () => {
    const s = applyEvents(emptyRunLog, [
      ev(1, "turn.diff", { turnDiff: { turnId: "t1", diff: "one" } }),
      ev(2, "turn.diff", { turnDiff: { turnId: "t1", diff: "two" } }),
    ]);
    expect(s.items).toEqual([expect.objectContaining({ kind: "turn_diff", diff: "two" })]);
  });

  it("is pure and shares unchanged items", () => {
    const s1 = applyEvents(emptyRunLog, [ev(1, "message.user", { userMessage: { itemId: "u", text: "x" } }), delta(2, "m", "a")]);
    const frozenItems = [...s1.items];
    const s2 = applyEvents(s1, [delta(3, "m", "b")]);
    expect(s1.items).toEqual(frozenItems);
    expect(s2.items[0]).toBe(s1.items[0]);
    expect(s2.items[1]).not.toBe(s1.items[1]);
  });

  // How fast is measured in `make bench` (the portal benchmark), not here.
  it("applies 20,000 events in batches", () => {
    const events: RunEvent[] = [];
    for (let seq = 1; seq <= 20000; seq++) {
      events.push(seq % 10 === 0 ? ev(seq, "command.started", { commandStarted: { itemId: `c${seq}`, command: "ls" } }) : delta(seq, `m${Math.floor(seq / 10)}`, "tok "));
    }
    let s = emptyRunLog;
    for (let i = 0; i < events.length; i += 50) s = applyEvents(s, events.slice(i, i + 50));
    expect(s.lastSeq).toBe(20000);
    expect(s.items.length).toBe(4000);
  });
});
