import { describe, expect, it } from "vitest";
import type { HumanLoopItem } from "@/lib/runLog";
import {
  formatRemaining,
  formatRemainingCoarse,
  fromRequest,
  fromTimelineItem,
  newRequestId,
  offeredDecisions,
  withReply,
} from "./model";

const item: HumanLoopItem = {
  key: "human_loop:q1",
  seq: 3,
  lastSeq: 3,
  time: "2026-01-01T00:00:00Z",
  turnId: "t1",
  kind: "human_loop",
  questionId: "q1",
  requestKind: "HUMAN_LOOP_KIND_COMMAND_APPROVAL",
  details: { commandApproval: { command: "ls", cwd: "/ws" } },
  expiresAt: "2026-01-01T01:00:00Z",
  state: "pending",
  answer: null,
  resolvedBy: null,
  settledAt: null,
  cancelReason: "",
};

describe("human-loop model", () => {
  it("offers the listed decisions it has buttons for, else all three", () => {
    expect(offeredDecisions({ commandApproval: {} })).toEqual([
      "APPROVAL_DECISION_ACCEPT",
      "APPROVAL_DECISION_ACCEPT_FOR_SESSION",
      "APPROVAL_DECISION_DECLINE",
    ]);
    expect(
      offeredDecisions({
        commandApproval: { availableDecisions: ["APPROVAL_DECISION_ACCEPT", "APPROVAL_DECISION_CANCEL"] },
      }),
    ).toEqual(["APPROVAL_DECISION_ACCEPT"]);
  });

  it("reads a timeline item and a REST request the same way", () => {
    const fromItem = fromTimelineItem("run_1", item);
    const fromRest = fromRequest({
      questionId: "q1",
      runId: "run_1",
      kind: "HUMAN_LOOP_KIND_COMMAND_APPROVAL",
      status: "HUMAN_LOOP_STATUS_PENDING",
      details: item.details,
      createdAt: item.time ?? undefined,
      expiresAt: item.expiresAt ?? undefined,
    });
    expect(fromRest).toEqual(fromItem);
  });

  it("shows the reply's result until the stream catches up", () => {
    const view = fromTimelineItem("run_1", item);
    const settled = withReply(view, {
      questionId: "q1",
      status: "HUMAN_LOOP_STATUS_RESOLVED",
      answer: { approval: { decision: "APPROVAL_DECISION_DECLINE" } },
      resolvedBy: "key_1",
      resolvedAt: "2026-01-01T00:01:00Z",
    });
    expect(settled).toMatchObject({ state: "resolved", resolvedBy: "key_1", settledAt: "2026-01-01T00:01:00Z" });
    expect(withReply(view, null)).toBe(view);
  });

  it("words the time left", () => {
    expect(formatRemaining(58 * 60_000 + 12_000)).toBe("58m 12s");
    expect(formatRemaining(3_900_000)).toBe("1h 05m");
    expect(formatRemaining(9_500)).toBe("10s");
    expect(formatRemaining(-1)).toBe("0s");
    expect(formatRemainingCoarse(58 * 60_000)).toBe("about 60 minutes");
    expect(formatRemainingCoarse(3 * 60_000)).toBe("3 minutes");
    expect(formatRemainingCoarse(30_000)).toBe("less than a minute");
    expect(formatRemainingCoarse(0)).toBe("time is up");
  });

  it("makes request ids the server accepts", () => {
    expect(newRequestId()).toMatch(/^[A-Za-z0-9_.:-]{1,128}$/);
  });
});
