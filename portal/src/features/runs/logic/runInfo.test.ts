import { describe, expect, it } from "vitest";
import type { Run } from "@/lib/api/types";
import { canInterrupt, composerBlockedReason, durationInWords, isFinished, runDurationMs, secondsToDuration } from "./runInfo";

describe("run info", () => {
  it("knows finished and interruptible statuses", () => {
    expect(isFinished("RUN_STATUS_SUCCEEDED")).toBe(true);
    expect(isFinished("RUN_STATUS_LOST")).toBe(true);
    expect(isFinished("RUN_STATUS_WAITING_HUMAN")).toBe(false);
    expect(isFinished(null)).toBe(false);
    expect(canInterrupt("RUN_STATUS_RUNNING")).toBe(true);
    expect(canInterrupt("RUN_STATUS_WAITING_HUMAN")).toBe(true);
    expect(canInterrupt("RUN_STATUS_QUEUED")).toBe(false);
  });

  it("measures a run's duration, to now while it runs", () => {
    const start = "2026-01-01T00:00:00Z";
    const now = Date.parse("2026-01-01T00:01:00Z");
    expect(runDurationMs({ startedAt: start, finishedAt: "2026-01-01T00:00:02.5Z", status: "RUN_STATUS_SUCCEEDED" }, now)).toBe(2500);
    expect(runDurationMs({ startedAt: start, status: "RUN_STATUS_RUNNING" }, now)).toBe(60_000);
    expect(runDurationMs({ status: "RUN_STATUS_QUEUED" } as Run, now)).toBeNull();
  });

  it("turns seconds into a Duration and back into words", () => {
    expect(secondsToDuration("")).toBeNull();
    expect(secondsToDuration(" 300 ")).toBe("300s");
    expect(() => secondsToDuration("1.5")).toThrow(/whole number/);
    expect(() => secondsToDuration("0")).toThrow(/above 0/);
    expect(durationInWords("300s")).toBe("5m");
    expect(durationInWords("3600s")).toBe("1h");
    expect(durationInWords("90s")).toBe("90s");
  });

  it("says why the composer cannot send", () => {
    const stateless: Run = { settings: { threadMode: "THREAD_MODE_STATELESS" } };
    expect(composerBlockedReason(undefined, null)).toMatch(/Loading/);
    expect(composerBlockedReason(stateless, "RUN_STATUS_SUCCEEDED")).toMatch(/stateless/);
    expect(composerBlockedReason(stateless, "RUN_STATUS_RUNNING")).toBeNull();
    expect(composerBlockedReason({}, "RUN_STATUS_SUCCEEDED")).toBeNull();
  });
});
