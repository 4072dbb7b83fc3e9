// The file tree, built from what ListFiles answered (one directory at a time),
// and the rows a person sees and moves through with the keyboard. No UI here.
import type { FileEntry } from "@/lib/api/types";

export interface TreeNode {
  /** Path relative to the workspace root ("src/main.py"). */
  path: string;
  name: string;
  kind: "file" | "dir";
  size: number;
  /** Directories only: children, directories first, then by name. */
  children: TreeNode[];
}

/** "src/lib/a.ts" → "src/lib"; "a.ts" → "". */
export function parentDir(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at);
}

/** "src/lib/a.ts" → "a.ts". */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A directory the person typed (" /src/lib/ ") → "src/lib"; the root is "". */
export function normalizeDir(input: string): string {
  return input
    .trim()
    .split("/")
    .filter((part) => part !== "" && part !== ".")
    .join("/");
}

/** joinPath("src", "a.ts") → "src/a.ts"; joinPath("", "a.ts") → "a.ts". */
export function joinPath(dir: string, name: string): string {
  const d = normalizeDir(dir);
  return d ? `${d}/${name}` : name;
}

/** Every directory above a path, outermost first: "a/b/c.txt" → ["a", "a/b"]. */
export function ancestors(path: string): string[] {
  const parts = path.split("/").slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

function compareNodes(a: TreeNode, b: TreeNode): number {
  if (a.kind !== b.kind) return a.kind === "dir" ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * A tree from a flat list of entries (of any depth, in any order, from
 * several directory listings). Directories named only by a path below them
 * are created; an entry listed twice counts once (the later one wins).
 * Returns the root's children.
 */
export function buildTree(entries: readonly FileEntry[]): TreeNode[] {
  const root: TreeNode = { path: "", name: "", kind: "dir", size: 0, children: [] };
  const nodes = new Map<string, TreeNode>([["", root]]);

  const ensureDir = (path: string): TreeNode => {
    const found = nodes.get(path);
    if (found) {
      if (found.kind !== "dir") {
        found.kind = "dir";
      }
      return found;
    }
    const parent = ensureDir(parentDir(path));
    const node: TreeNode = { path, name: baseName(path), kind: "dir", size: 0, children: [] };
    nodes.set(path, node);
    parent.children.push(node);
    return node;
  };

  for (const entry of entries) {
    const path = normalizeDir(entry.path ?? "");
    if (!path) continue;
    const size = Number(entry.size ?? 0) || 0;
    if (entry.type === "FILE_TYPE_DIRECTORY") {
      ensureDir(path).size = size;
      continue;
    }
    const existing = nodes.get(path);
    if (existing) {
      if (existing.kind === "file") existing.size = size;
      continue;
    }
    const node: TreeNode = { path, name: baseName(path), kind: "file", size, children: [] };
    nodes.set(path, node);
    ensureDir(parentDir(path)).children.push(node);
  }

  const sort = (node: TreeNode) => {
    node.children.sort(compareNodes);
    node.children.forEach(sort);
  };
  sort(root);
  return root.children;
}

/**
 * The entries of several directory listings ("" is the root) that are still
 * reachable from the root: a listing counts only while its directory appears
 * in its parent's listing, so a directory renamed or deleted elsewhere does
 * not linger from an older answer.
 */
export function reachableEntries(listings: ReadonlyMap<string, readonly FileEntry[]>): FileEntry[] {
  const out: FileEntry[] = [];
  const seen = new Set<string>();
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    for (const entry of listings.get(dir) ?? []) {
      out.push(entry);
      const path = normalizeDir(entry.path ?? "");
      if (entry.type === "FILE_TYPE_DIRECTORY" && path && listings.has(path)) visit(path);
    }
  };
  visit("");
  return out;
}

/** One visible line of the tree. */
export type TreeRow =
  | { kind: "node"; node: TreeNode; depth: number; parent: string; posInSet: number; setSize: number }
  | { kind: "loading" | "empty"; dir: string; depth: number };

/**
 * The lines a person sees: the root's children, and the children of every
 * expanded directory below them, in order. An expanded directory whose
 * listing has not arrived (not in `loaded`) shows a "loading" line; one that
 * arrived empty shows "empty". `depth` is 1 for the root's children.
 */
export function visibleRows(
  tree: readonly TreeNode[],
  expanded: ReadonlySet<string>,
  loaded: ReadonlySet<string> = new Set(),
): TreeRow[] {
  const rows: TreeRow[] = [];
  const walk = (nodes: readonly TreeNode[], depth: number, parent: string) => {
    nodes.forEach((node, i) => {
      rows.push({ kind: "node", node, depth, parent, posInSet: i + 1, setSize: nodes.length });
      if (node.kind !== "dir" || !expanded.has(node.path)) return;
      if (node.children.length > 0) walk(node.children, depth + 1, node.path);
      else rows.push({ kind: loaded.has(node.path) ? "empty" : "loading", dir: node.path, depth: depth + 1 });
    });
  };
  walk(tree, 1, "");
  return rows;
}

/** What a key press on a tree item does (WAI-ARIA tree view pattern). */
export type TreeAction =
  | { type: "focus"; path: string }
  | { type: "expand"; path: string }
  | { type: "collapse"; path: string }
  | { type: "open"; path: string }
  | { type: "none" };

/**
 * The action for `key` pressed on the item at `path`: ↑/↓ move, → expands a
 * closed directory or enters an open one, ← collapses an open directory or
 * goes to the parent, Home/End jump, Enter/Space open a file or toggle a
 * directory.
 */
export function treeKeyAction(
  key: string,
  path: string,
  rows: readonly TreeRow[],
  expanded: ReadonlySet<string>,
): TreeAction {
  const items = rows.filter((r): r is Extract<TreeRow, { kind: "node" }> => r.kind === "node");
  const at = items.findIndex((r) => r.node.path === path);
  if (at < 0) return items.length > 0 ? { type: "focus", path: items[0].node.path } : { type: "none" };
  const row = items[at];
  const isDir = row.node.kind === "dir";
  const open = isDir && expanded.has(row.node.path);
  switch (key) {
    case "ArrowDown":
      return at + 1 < items.length ? { type: "focus", path: items[at + 1].node.path } : { type: "none" };
    case "ArrowUp":
      return at > 0 ? { type: "focus", path: items[at - 1].node.path } : { type: "none" };
    case "Home":
      return { type: "focus", path: items[0].node.path };
    case "End":
      return { type: "focus", path: items[items.length - 1].node.path };
    case "ArrowRight":
      if (!isDir) return { type: "none" };
      if (!open) return { type: "expand", path: row.node.path };
      return row.node.children.length > 0 ? { type: "focus", path: row.node.children[0].path } : { type: "none" };
    case "ArrowLeft":
      if (open) return { type: "collapse", path: row.node.path };
      return row.parent ? { type: "focus", path: row.parent } : { type: "none" };
    case "Enter":
    case " ":
      if (!isDir) return { type: "open", path: row.node.path };
      return open ? { type: "collapse", path: row.node.path } : { type: "expand", path: row.node.path };
    default:
      return { type: "none" };
  }
}
