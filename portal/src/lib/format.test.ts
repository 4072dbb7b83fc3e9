import { describe, expect, it } from "vitest";
import { apiErrorFromStatus } from "./api/errors";
import { formatDuration, formatRelative } from "./format";

describe("format", () => {
  it("formats durations", () => {
    expect(formatDuration(2100)).toBe("2.1s");
    expect(formatDuration(151_000)).toBe("2m31s");
    expect(formatDuration(3_900_000)).toBe("1h05m");
  });
  it("formats relative times", () => {
    const now = new Date("2026-01-01T12:00:00Z");
    expect(formatRelative(new Date("2026-01-01T11:57:00Z"), now)).toBe("3 minutes ago");
    expect(formatRelative(new Date("2026-01-01T12:58:00Z"), now)).toBe("in 58 minutes");
    // A moment ahead of a stale clock is "just now", not the future.
    expect(formatRelative(new Date("2026-01-01T12:00:05Z"), now)).toBe("just now");
    expect(formatRelative(new Date("2026-01-01T12:00:30Z"), now)).toBe("in a few seconds");
  });
});

describe("apiErrorFromStatus", () => {
  it("reads ErrorInfo, BadRequest and RetryInfo into words", () => {
    const error = apiErrorFromStatus(
      {
        code: 3,
        message: "invalid request",
        details: [
          { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "INVALID_FIELD", domain: "ccplane.dev", metadata: { field: "prompt" } },
          { "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "workspace_id", description: "must not be empty" }] },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2.5s" },
        ],
      },
      400,
    );
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.reason).toBe("INVALID_FIELD");
    expect(error.metadata).toEqual({ field: "prompt" });
    expect(error.sentence).toBe("Invalid request. Try again in 3 s.");
    expect(error.fieldsInWords).toEqual(["workspace id: must not be empty"]);
  });
  it("falls back to the HTTP status when the body is not a Status", () => {
    const error = apiErrorFromStatus("<html>", 404);
    expect(error.code).toBe("NOT_FOUND");
    expect(error.sentence).toBe("It was not found.");
  });
});
