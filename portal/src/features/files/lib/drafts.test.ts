import { describe, expect, it } from "vitest";
import { apiErrorFromStatus } from "@/lib/api/errors";
import {
  dropDraft,
  editDraft,
  fileSince,
  heldByRun,
  moveDraft,
  rebaseDrafts,
  versionConflict,
  type Drafts,
  type Loaded,
} from "./drafts";

const loaded: Loaded = { text: "hello\n", version: 4, sha256: "aaa" };

describe("drafts", () => {
  it("starts a draft at the loaded version and drops it when the text is back to what was loaded", () => {
    let drafts: Drafts = {};
    expect(editDraft(drafts, "a.txt", "hello\n", loaded)).toBe(drafts);
    drafts = editDraft(drafts, "a.txt", "hello!\n", loaded);
    expect(drafts["a.txt"]).toEqual({ path: "a.txt", text: "hello!\n", baseVersion: 4, baseSha256: "aaa" });
    expect(editDraft(drafts, "a.txt", "hello\n", loaded)).toEqual({});
  });

  it("keeps the draft's base when the file is reloaded underneath it", () => {
    const drafts = editDraft({}, "a.txt", "mine\n", loaded);
    const newer: Loaded = { text: "theirs\n", version: 5, sha256: "bbb" };
    const next = editDraft(drafts, "a.txt", "mine, more\n", newer);
    expect(next["a.txt"].baseVersion).toBe(4);
    // Typing the newer text does not silently drop an edit based on the older one.
    expect(editDraft(next, "a.txt", "theirs\n", newer)["a.txt"]).toMatchObject({ baseVersion: 4, text: "theirs\n" });
  });

  it("moves with a rename and goes with a drop", () => {
    const drafts = editDraft({}, "a.txt", "x", loaded);
    expect(Object.keys(moveDraft(drafts, "a.txt", "b.txt"))).toEqual(["b.txt"]);
    expect(moveDraft(drafts, "a.txt", "b.txt", 5)["b.txt"]).toMatchObject({ path: "b.txt", baseVersion: 5 });
    expect(dropDraft(drafts, "a.txt")).toEqual({});
    expect(dropDraft(drafts, "nope")).toBe(drafts);
  });

  it("rebases other drafts over the person's own change, and only then", () => {
    let drafts = editDraft({}, "a.txt", "x", loaded);
    drafts = editDraft(drafts, "b.txt", "y", loaded);
    drafts = editDraft(drafts, "old.txt", "z", { ...loaded, version: 2 });
    const after = rebaseDrafts(drafts, { expectedVersion: 4, version: 5, paths: ["b.txt"] });
    expect(after["a.txt"].baseVersion).toBe(5);
    expect(after["b.txt"].baseVersion).toBe(4); // the change touched it: still a conflict
    expect(after["old.txt"].baseVersion).toBe(2); // based on something older: still a conflict
    // Someone else may have written in between: no rebase.
    expect(rebaseDrafts(drafts, { expectedVersion: 4, version: 6, paths: [] })).toBe(drafts);
    // An unconditional write proves nothing.
    expect(rebaseDrafts(drafts, { expectedVersion: 0, version: 1, paths: [] })).toBe(drafts);
  });
});

describe("versionConflict", () => {
  it("reads the current version from an ABORTED error's metadata", () => {
    const error = apiErrorFromStatus(
      {
        code: 10,
        message: "workspace ws_1 is at version 7, not the expected version 4; re-read and retry",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "WORKSPACE_VERSION_MISMATCH",
            metadata: { expected_version: "4", current_version: "7" },
          },
        ],
      },
      409,
    );
    expect(versionConflict(error)).toEqual({ currentVersion: 7, expectedVersion: 4 });
  });

  it("falls back to the message, and ignores other errors", () => {
    const bare = apiErrorFromStatus({ code: 10, message: "workspace ws_1 is at version 9, not 3" }, 409);
    expect(versionConflict(bare)).toEqual({ currentVersion: 9, expectedVersion: 0 });
    expect(versionConflict(apiErrorFromStatus({ code: 10, message: "aborted" }, 409))).toBeNull();
    expect(versionConflict(apiErrorFromStatus({ code: 5, message: "file 'x' not found" }, 404))).toBeNull();
    expect(versionConflict(null)).toBeNull();
  });
});

describe("heldByRun", () => {
  it("names the run that holds the workspace", () => {
    const error = apiErrorFromStatus(
      {
        code: 9,
        message: "workspace ws_1 is in use by run run_42; its files can be changed when the run ends",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "WORKSPACE_HELD_BY_RUN",
            metadata: { run_id: "run_42", workspace_id: "ws_1" },
          },
        ],
      },
      400,
    );
    expect(heldByRun(error)).toBe("run_42");
    expect(error.sentence).toContain("in use by run run_42");
    const noMeta = apiErrorFromStatus({
      code: 9,
      message: "workspace ws_1 is in use by run run_7; its files can be changed when the run ends",
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "WORKSPACE_HELD_BY_RUN" }],
    });
    expect(heldByRun(noMeta)).toBe("run_7");
    expect(heldByRun(apiErrorFromStatus({ code: 9, message: "'src' is a directory" }))).toBeNull();
  });
});

describe("fileSince", () => {
  const draft = { path: "a.txt", text: "x", baseVersion: 4, baseSha256: "aaa" };
  it("tells whether the file itself changed", () => {
    expect(fileSince(draft, "aaa")).toBe("unchanged");
    expect(fileSince(draft, "bbb")).toBe("changed");
    expect(fileSince(draft, null)).toBe("deleted");
    expect(fileSince(draft, undefined)).toBe("unknown");
  });
});
