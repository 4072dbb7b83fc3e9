// The file tree: a WAI-ARIA tree (flat treeitems with aria-level), one tab
// stop, arrows to move, → / ← to open and close directories, Enter to open.
import { useRef, useState, type KeyboardEvent } from "react";
import { treeKeyAction, type TreeRow } from "../lib/tree";

export interface FileTreeProps {
  rows: readonly TreeRow[];
  expanded: ReadonlySet<string>;
  /** The file open in the editor. */
  selected: string | null;
  /** Files with unsaved edits. */
  dirty: ReadonlySet<string>;
  onExpand: (path: string, open: boolean) => void;
  onOpen: (path: string) => void;
  label?: string;
}

export function FileTree({ rows, expanded, selected, dirty, onExpand, onOpen, label = "Files" }: FileTreeProps) {
  const host = useRef<HTMLUListElement>(null);
  const [focused, setFocused] = useState<string | null>(null);
  const nodeRows = rows.filter((r) => r.kind === "node");
  const paths = new Set(nodeRows.map((r) => r.node.path));
  // The one item reachable with Tab: the focused one, else the open file, else the first.
  const tabStop =
    (focused && paths.has(focused) && focused) ||
    (selected && paths.has(selected) && selected) ||
    nodeRows[0]?.node.path ||
    null;

  const focusItem = (path: string) => {
    setFocused(path);
    const item = host.current?.querySelector<HTMLElement>(`[data-path="${CSS.escape(path)}"]`);
    item?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLElement>, path: string) => {
    const action = treeKeyAction(event.key, path, rows, expanded);
    if (action.type === "none") return;
    event.preventDefault();
    event.stopPropagation();
    if (action.type === "focus") focusItem(action.path);
    else if (action.type === "expand") onExpand(action.path, true);
    else if (action.type === "collapse") onExpand(action.path, false);
    else onOpen(action.path);
  };

  return (
    <ul ref={host} role="tree" aria-label={label} className="file-tree">
      {rows.map((row) => {
        if (row.kind !== "node") {
          return (
            <li key={`${row.kind}:${row.dir}`} role="none" className="file-tree__note" style={{ paddingLeft: `${row.depth * 0.9}rem` }}>
              {row.kind === "loading" ? "Loading…" : "Empty folder"}
            </li>
          );
        }
        const { node } = row;
        const isDir = node.kind === "dir";
        const open = isDir && expanded.has(node.path);
        return (
          <li
            key={node.path}
            role="treeitem"
            aria-label={node.path}
            aria-level={row.depth}
            aria-setsize={row.setSize}
            aria-posinset={row.posInSet}
            aria-expanded={isDir ? open : undefined}
            aria-selected={isDir ? undefined : node.path === selected}
            tabIndex={node.path === tabStop ? 0 : -1}
            data-path={node.path}
            className={`file-tree__item${node.path === selected ? " file-tree__item--selected" : ""}`}
            style={{ paddingLeft: `${(row.depth - 1) * 0.9 + 0.35}rem` }}
            onClick={() => {
              setFocused(node.path);
              if (isDir) onExpand(node.path, !open);
              else onOpen(node.path);
            }}
            onKeyDown={(event) => onKeyDown(event, node.path)}
            onFocus={() => setFocused(node.path)}
          >
            <span className="file-tree__icon" aria-hidden="true">
              {isDir ? (open ? "▾" : "▸") : ""}
            </span>
            <span className={isDir ? "file-tree__name file-tree__name--dir" : "file-tree__name"}>{node.name}</span>
            {dirty.has(node.path) && (
              <span className="file-tree__dirty" aria-hidden="true" title="Unsaved changes">
                ●
              </span>
            )}
          </li>
        );
      })}
    </ul>
  );
}
