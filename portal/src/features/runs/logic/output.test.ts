import { describe, expect, it } from "vitest";
import { tailLines } from "./output";

const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1}`).join("\n");

describe("tailLines", () => {
  it("keeps short output whole", () => {
    expect(tailLines("a\nb\n", 20)).toEqual({ text: "a\nb", hiddenLines: 0 });
    expect(tailLines(lines(20), 20)).toEqual({ text: lines(20), hiddenLines: 0 });
    expect(tailLines("", 20)).toEqual({ text: "", hiddenLines: 0 });
  });

  it("keeps the last lines and counts the hidden ones", () => {
    const tail = tailLines(`${lines(25)}\n`, 20);
    expect(tail.hiddenLines).toBe(5);
    expect(tail.text.split("\n")).toHaveLength(20);
    expect(tail.text.startsWith("line 6\n")).toBe(true);
    expect(tail.text.endsWith("line 25")).toBe(true);
  });

  it("counts a blank first line", () => {
    expect(tailLines("\na\nb\nc", 2)).toEqual({ text: "b\nc", hiddenLines: 2 });
    expect(tailLines("\na", 2)).toEqual({ text: "\na", hiddenLines: 0 });
  });
});
