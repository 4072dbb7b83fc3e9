import { describe, expect, it } from "vitest";
import type { FileEntry } from "@/lib/api/types";
import { ancestors, buildTree, joinPath, reachableEntries, normalizeDir, parentDir, treeKeyAction, visibleRows, type TreeRow } from "./tree";

const file = (path: string, size = 1): FileEntry => ({ path, name: path.split("/").pop(), type: "FILE_TYPE_FILE", size: String(size) });
const dir = (path: string): FileEntry => ({ path, name: path.split("/").pop(), type: "FILE_TYPE_DIRECTORY" });

function names(rows: TreeRow[]): string[] {
  return rows.map((r) => (r.kind === "node" ? `${"  ".repeat(r.depth - 1)}${r.node.name}` : `${"  ".repeat(r.depth - 1)}(${r.kind})`));
}

describe("paths", () => {
  it("splits and joins", () => {
    expect(parentDir("src/lib/a.ts")).toBe("src/lib");
    expect(parentDir("a.ts")).toBe("");
    expect(normalizeDir(" /src//lib/ ")).toBe("src/lib");
    expect(normalizeDir("./")).toBe("");
    expect(joinPath("", "a.txt")).toBe("a.txt");
    expect(joinPath("docs/", "a.txt")).toBe("docs/a.txt");
    expect(ancestors("a/b/c.txt")).toEqual(["a", "a/b"]);
    expect(ancestors("c.txt")).toEqual([]);
  });
});

describe("buildTree", () => {
  it("nests a flat list, directories first, then by name", () => {
    const tree = buildTree([file("z.txt"), file("src/main.py", 15), dir("src"), file("README.md"), dir("docs")]);
    expect(tree.map((n) => `${n.kind}:${n.path}`)).toEqual(["dir:docs", "dir:src", "file:README.md", "file:z.txt"]);
    expect(tree[1].children.map((n) => n.path)).toEqual(["src/main.py"]);
    expect(tree[1].children[0].size).toBe(15);
  });

  it("creates directories named only by a deeper path, and merges listings of several directories", () => {
    const root = [dir("a"), file("top.txt")];
    const a = [dir("a/b"), file("a/x.txt")];
    const ab = [file("a/b/deep.txt")];
    const tree = buildTree([...ab, ...root, ...a]);
    expect(tree[0].path).toBe("a");
    expect(tree[0].children.map((n) => n.path)).toEqual(["a/b", "a/x.txt"]);
    expect(tree[0].children[0].children.map((n) => n.path)).toEqual(["a/b/deep.txt"]);
    expect(buildTree([file("only/in/here.txt")])[0].children[0].children[0].path).toBe("only/in/here.txt");
  });

  it("counts an entry listed twice once, and ignores entries without a path", () => {
    const tree = buildTree([file("a.txt", 1), file("a.txt", 2), { name: "?" }, dir("d"), dir("d")]);
    expect(tree.map((n) => n.path)).toEqual(["d", "a.txt"]);
    expect(tree[1].size).toBe(2);
  });
});

describe("reachableEntries", () => {
  it("drops listings of directories their parent no longer lists", () => {
    const listings = new Map([
      ["", [dir("lib"), file("a.txt")]],
      ["lib", [file("lib/greet.py")]],
      // An older answer for a directory renamed away since.
      ["src", [file("src/hello.py")]],
    ]);
    expect(reachableEntries(listings).map((e) => e.path)).toEqual(["lib", "lib/greet.py", "a.txt"]);
    expect(buildTree(reachableEntries(listings)).map((n) => n.path)).toEqual(["lib", "a.txt"]);
    expect(reachableEntries(new Map())).toEqual([]);
  });
});

describe("visibleRows", () => {
  const tree = buildTree([dir("src"), file("src/a.ts"), dir("src/lib"), dir("empty"), dir("later"), file("README.md")]);

  it("shows the root's children and those of expanded directories", () => {
    expect(names(visibleRows(tree, new Set()))).toEqual(["empty", "later", "src", "README.md"]);
    expect(names(visibleRows(tree, new Set(["src", "src/lib", "empty", "later"]), new Set(["src", "empty"])))).toEqual([
      "empty",
      "  (empty)",
      "later",
      "  (loading)",
      "src",
      "  lib",
      "    (loading)",
      "  a.ts",
      "README.md",
    ]);
  });

  it("knows each item's place among its siblings", () => {
    const rows = visibleRows(tree, new Set(["src"]), new Set(["src"]));
    const lib = rows.find((r) => r.kind === "node" && r.node.path === "src/lib");
    expect(lib).toMatchObject({ depth: 2, parent: "src", posInSet: 1, setSize: 2 });
  });
});

describe("treeKeyAction", () => {
  const tree = buildTree([dir("src"), file("src/a.ts"), file("README.md")]);
  const closed = new Set<string>();
  const open = new Set(["src"]);
  const rowsClosed = visibleRows(tree, closed);
  const rowsOpen = visibleRows(tree, open, open);

  it("moves with the arrows, Home and End", () => {
    expect(treeKeyAction("ArrowDown", "src", rowsClosed, closed)).toEqual({ type: "focus", path: "README.md" });
    expect(treeKeyAction("ArrowDown", "src", rowsOpen, open)).toEqual({ type: "focus", path: "src/a.ts" });
    expect(treeKeyAction("ArrowUp", "README.md", rowsOpen, open)).toEqual({ type: "focus", path: "src/a.ts" });
    expect(treeKeyAction("ArrowUp", "src", rowsOpen, open)).toEqual({ type: "none" });
    expect(treeKeyAction("End", "src", rowsOpen, open)).toEqual({ type: "focus", path: "README.md" });
    expect(treeKeyAction("Home", "README.md", rowsOpen, open)).toEqual({ type: "focus", path: "src" });
  });

  it("opens and closes directories with → and ←, and goes to the parent", () => {
    expect(treeKeyAction("ArrowRight", "src", rowsClosed, closed)).toEqual({ type: "expand", path: "src" });
    expect(treeKeyAction("ArrowRight", "src", rowsOpen, open)).toEqual({ type: "focus", path: "src/a.ts" });
    expect(treeKeyAction("ArrowLeft", "src", rowsOpen, open)).toEqual({ type: "collapse", path: "src" });
    expect(treeKeyAction("ArrowLeft", "src/a.ts", rowsOpen, open)).toEqual({ type: "focus", path: "src" });
    expect(treeKeyAction("ArrowLeft", "README.md", rowsOpen, open)).toEqual({ type: "none" });
  });

  it("opens a file with Enter or Space and toggles a directory", () => {
    expect(treeKeyAction("Enter", "README.md", rowsOpen, open)).toEqual({ type: "open", path: "README.md" });
    expect(treeKeyAction(" ", "src", rowsOpen, open)).toEqual({ type: "collapse", path: "src" });
    expect(treeKeyAction("Enter", "src", rowsClosed, closed)).toEqual({ type: "expand", path: "src" });
    expect(treeKeyAction("x", "src", rowsClosed, closed)).toEqual({ type: "none" });
  });
});
