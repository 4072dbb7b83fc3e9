import { describe, expect, it } from "vitest";
import { auditActionWord, auditActor, auditTarget } from "./audit";
import { decodeContent, formatBytes, textToBase64 } from "./content";

describe("content", () => {
  it("round-trips UTF-8 text through base64", () => {
    const text = "héllo ✓ 世界\n";
    expect(decodeContent(textToBase64(text))).toEqual({ kind: "text", text });
    expect(decodeContent(undefined)).toEqual({ kind: "text", text: "" });
  });

  it("calls invalid UTF-8 and NUL bytes binary", () => {
    expect(decodeContent(btoa("\xff\xfe\x00\x01"))).toEqual({ kind: "binary", size: 4 });
    expect(decodeContent(btoa("a\x00b"))).toEqual({ kind: "binary", size: 3 });
  });

  it("formats sizes", () => {
    expect(formatBytes(13)).toBe("13 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MB");
  });
});

describe("audit words", () => {
  it("says who did what to which path", () => {
    expect(auditActionWord("AUDIT_ACTION_UPLOAD")).toBe("uploaded");
    expect(auditActionWord(undefined)).toBe("changed");
    expect(auditTarget({ path: "a.txt", newPath: "b.txt" })).toBe("a.txt → b.txt");
    expect(auditTarget({})).toBe("");
    expect(auditActor({ actorKeyId: "key_1" })).toEqual({ kind: "key", id: "key_1" });
    expect(auditActor({ runId: "run_1" })).toEqual({ kind: "run", id: "run_1" });
  });
});
