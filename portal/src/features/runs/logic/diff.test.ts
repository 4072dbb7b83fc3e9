import { describe, expect, it } from "vitest";
import { classifyDiffLine, parseFileChangeDiff, parseUnifiedDiff } from "./diff";

describe("parseUnifiedDiff", () => {
  it("classifies headers, hunks, additions, removals and context, and counts +/−", () => {
    const diff = [
      "diff --git a/src/sum.ts b/src/sum.ts",
      "index 1234..5678 100644",
      "--- a/src/sum.ts",
      "+++ b/src/sum.ts",
      "@@ -1,3 +1,3 @@",
      " export function sum(a, b) {",
      "-  return a - b;",
      "+  return a + b;",
      "+  // fixed",
      " }",
      "\\ No newline at end of file",
      "",
    ].join("\n");
    const { lines, added, removed } = parseUnifiedDiff(diff);
    expect(lines.map((l) => l.kind)).toEqual([
      "file",
      "meta",
      "file",
      "file",
      "hunk",
      "context",
      "remove",
      "add",
      "add",
      "context",
      "meta",
    ]);
    expect(added).toBe(2);
    expect(removed).toBe(1);
  });

  it("treats ---/+++ inside a hunk as a removal/addition, and starts over at the next file", () => {
    const diff = [
      "--- a/x",
      "+++ b/x",
      "@@ -1 +1 @@",
      "--- removed line starting with dashes",
      "+++ added line starting with pluses",
      "diff --git a/y b/y",
      "--- a/y",
      "+++ b/y",
    ].join("\n");
    expect(parseUnifiedDiff(diff).lines.map((l) => l.kind)).toEqual([
      "file",
      "file",
      "hunk",
      "remove",
      "add",
      "file",
      "file",
      "file",
    ]);
  });

  it("gives nothing for an empty diff", () => {
    expect(parseUnifiedDiff("")).toEqual({ lines: [], added: 0, removed: 0 });
  });

  it("classifies a lone line", () => {
    expect(classifyDiffLine("+x", true)).toBe("add");
    expect(classifyDiffLine("+++ b/x", false)).toBe("file");
    expect(classifyDiffLine("plain", true)).toBe("context");
  });
});

describe("parseFileChangeDiff", () => {
  it("reads an added file's plain content as additions", () => {
    const summary = parseFileChangeDiff("hello\nworld\n", "FILE_CHANGE_KIND_ADD");
    expect(summary.added).toBe(2);
    expect(summary.lines).toEqual([
      { kind: "add", text: "+hello" },
      { kind: "add", text: "+world" },
    ]);
  });

  it("reads a deleted file's plain content as removals", () => {
    expect(parseFileChangeDiff("gone", "FILE_CHANGE_KIND_DELETE")).toEqual({
      lines: [{ kind: "remove", text: "-gone" }],
      added: 0,
      removed: 1,
    });
  });

  it("keeps a real unified diff as it is", () => {
    const diff = "@@ -1 +1 @@\n-a\n+b\n";
    expect(parseFileChangeDiff(diff, "FILE_CHANGE_KIND_ADD")).toEqual(parseUnifiedDiff(diff));
    expect(parseFileChangeDiff("x", "FILE_CHANGE_KIND_UPDATE").lines[0].kind).toBe("context");
  });
});
