// One timeline entry per item kind. Rows are memoised: the reducer keeps an
// unchanged item's identity, so a new event re-renders only its own row.
import { memo, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { StatusBadge } from "@/components/StatusBadge";
import { Duration, RelativeTime } from "@/components/Time";
import type { FileChange, TodoItem } from "@/lib/api/types";
import { formatCount } from "@/lib/format";
import type { CommandItem, FileChangeItem, HumanLoopItem, TimelineItem, TurnItem } from "@/lib/runLog";
import { parseFileChangeDiff, parseUnifiedDiff } from "../logic/diff";
import { tailLines } from "../logic/output";
import { int64 } from "../logic/runInfo";
import { DiffCounts, DiffView } from "./DiffView";

/** Which folded parts are open, by `${item.key}:${part}`: kept above the rows, so scrolling away and back keeps them. */
export interface OpenParts {
  open: ReadonlySet<string>;
  setOpen: (id: string, open: boolean) => void;
}

interface RowProps {
  item: TimelineItem;
  parts: OpenParts;
  /** Renders a human-loop request (the human-loop feature's card). */
  renderHumanLoop: (item: HumanLoopItem) => ReactNode;
}

/** A `<details>` whose open state lives in OpenParts; its body renders only while open. */
function Fold({ id, parts, summary, children }: { id: string; parts: OpenParts; summary: ReactNode; children: () => ReactNode }) {
  const isOpen = parts.open.has(id);
  return (
    <details open={isOpen} onToggle={(e) => parts.setOpen(id, e.currentTarget.open)}>
      <summary>{summary}</summary>
      {isOpen && children()}
    </details>
  );
}

function Meta({ item }: { item: TimelineItem }) {
  return item.time ? (
    <span className="tl__time">
      <RelativeTime time={item.time} />
    </span>
  ) : null;
}

const COMMAND_STATE_WORDS: Record<CommandItem["state"], string> = {
  running: "running",
  completed: "done",
  failed: "failed",
  declined: "declined",
};

function CommandRow({ item, parts }: { item: CommandItem; parts: OpenParts }) {
  const allId = `${item.key}:all`;
  const showAll = parts.open.has(allId);
  const tail = tailLines(item.output, 20);
  const output = showAll ? item.output : tail.text;
  return (
    <div className={`tl tl--command tl--command-${item.state}`}>
      <div className="tl__head">
        <code className="command-line">$ {item.command || "(command)"}</code>
        <span className="tl__facts">
          {item.exitCode !== null && <span className={item.exitCode === 0 ? "" : "bad"}>exit {item.exitCode}</span>}
          {item.durationMs !== null && <Duration ms={item.durationMs} />}
          <span className={`cmd-state cmd-state--${item.state}`}>{COMMAND_STATE_WORDS[item.state]}</span>
        </span>
      </div>
      {item.cwd && <div className="muted tl__cwd">in {item.cwd}</div>}
      {output !== "" && (
        <pre className="output" aria-label={`Output of ${item.command}`} tabIndex={0}>
          {output}
        </pre>
      )}
      {tail.hiddenLines > 0 && (
        <button type="button" className="link-button" aria-expanded={showAll} onClick={() => parts.setOpen(allId, !showAll)}>
          {showAll ? "Show the last 20 lines" : `Show all (${tail.hiddenLines} more lines)`}
        </button>
      )}
    </div>
  );
}

const CHANGE_MARK: Record<NonNullable<FileChange["kind"]>, string> = {
  FILE_CHANGE_KIND_UNSPECIFIED: "~",
  FILE_CHANGE_KIND_ADD: "+",
  FILE_CHANGE_KIND_UPDATE: "~",
  FILE_CHANGE_KIND_DELETE: "−",
};

const PATCH_WORDS: Record<FileChangeItem["status"], string> = {
  PATCH_STATUS_UNSPECIFIED: "",
  PATCH_STATUS_COMPLETED: "applied",
  PATCH_STATUS_FAILED: "failed",
  PATCH_STATUS_DECLINED: "declined",
};

function FileChangeRow({ item, parts }: { item: FileChangeItem; parts: OpenParts }) {
  return (
    <div className={`tl tl--file-change tl--patch-${item.status}`}>
      <div className="tl__head">
        <span className="tl__label">File changes</span>
        <span className="tl__facts">{PATCH_WORDS[item.status]}</span>
      </div>
      <ul className="file-changes">
        {item.changes.map((change, i) => {
          const { added, removed } = parseFileChangeDiff(change.diff ?? "", change.kind);
          const id = `${item.key}:diff:${i}`;
          const path = change.movePath ? `${change.path} → ${change.movePath}` : (change.path ?? "");
          return (
            <li key={`${change.path}-${i}`}>
              <Fold
                id={id}
                parts={parts}
                summary={
                  <>
                    <span className="mono" aria-hidden="true">
                      {CHANGE_MARK[change.kind ?? "FILE_CHANGE_KIND_UNSPECIFIED"]}{" "}
                    </span>
                    <span className="mono">{path}</span> <DiffCounts added={added} removed={removed} />
                  </>
                }
              >
                {() => <DiffView diff={change.diff ?? ""} kind={change.kind} label={`Diff of ${path}`} />}
              </Fold>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

const TODO_MARK: Record<NonNullable<TodoItem["status"]>, string> = {
  TODO_STATUS_UNSPECIFIED: "○",
  TODO_STATUS_PENDING: "○",
  TODO_STATUS_IN_PROGRESS: "◐",
  TODO_STATUS_COMPLETED: "●",
};
const TODO_WORDS: Record<NonNullable<TodoItem["status"]>, string> = {
  TODO_STATUS_UNSPECIFIED: "",
  TODO_STATUS_PENDING: "pending",
  TODO_STATUS_IN_PROGRESS: "in progress",
  TODO_STATUS_COMPLETED: "done",
};

/** A todo list, compact: one line per step, status as a mark and a word. */
function TodoList({ items }: { items: readonly TodoItem[] }) {
  return (
    <ol className="tl-todos">
      {items.map((todo, i) => {
        const status = todo.status ?? "TODO_STATUS_UNSPECIFIED";
        return (
          <li key={todo.order ?? i} className={`tl-todo tl-todo--${status.replace("TODO_STATUS_", "").toLowerCase()}`}>
            <span aria-hidden="true">{TODO_MARK[status]} </span>
            {todo.text}
            <span className="visually-hidden"> ({TODO_WORDS[status]})</span>
          </li>
        );
      })}
    </ol>
  );
}

const TURN_WORDS: Record<TurnItem["state"], string> = {
  running: "running",
  completed: "completed",
  interrupted: "interrupted",
  failed: "failed",
};

function Body({ item, parts, renderHumanLoop }: RowProps): ReactNode {
  switch (item.kind) {
    case "user_message":
      return (
        <div className="tl tl--user">
          <div className="tl__who">you</div>
          <div className="tl__text">{item.text}</div>
        </div>
      );
    case "agent_message":
      return (
        <div className="tl tl--agent">
          <div className="tl__who">agent</div>
          <div className="tl__text">
            {item.text}
            {item.streaming && (
              <span className="caret" aria-hidden="true">
                ▌
              </span>
            )}
          </div>
          {item.streaming && <span className="visually-hidden">(still writing)</span>}
        </div>
      );
    case "reasoning":
      return (
        <div className="tl tl--reasoning">
          <Fold id={`${item.key}:open`} parts={parts} summary="Reasoning">
            {() => <div className="tl__text muted">{item.text}</div>}
          </Fold>
        </div>
      );
    case "command":
      return <CommandRow item={item} parts={parts} />;
    case "file_change":
      return <FileChangeRow item={item} parts={parts} />;
    case "turn_diff": {
      const { added, removed } = parseUnifiedDiff(item.diff);
      return (
        <div className="tl tl--turn-diff">
          <Fold
            id={`${item.key}:open`}
            parts={parts}
            summary={
              <>
                Changes in this turn <DiffCounts added={added} removed={removed} />
              </>
            }
          >
            {() => <DiffView diff={item.diff} label="Changes in this turn" />}
          </Fold>
        </div>
      );
    }
    case "turn":
      return (
        <div className={`tl tl--turn tl--turn-${item.state}`}>
          <span className="tl--turn__rule" aria-hidden="true" />
          <span>
            Turn · <span className="tl--turn__state">{TURN_WORDS[item.state]}</span>
            {item.error && <span className="bad">: {item.error}</span>}
          </span>
          <Meta item={item} />
          <span className="tl--turn__rule" aria-hidden="true" />
        </div>
      );
    case "todos":
      return (
        <div className="tl tl--todos">
          <div className="tl__label">Plan (version {item.todos.version ?? "?"})</div>
          {item.todos.explanation && <p className="muted">{item.todos.explanation}</p>}
          <TodoList items={item.todos.items ?? []} />
        </div>
      );
    case "human_loop":
      return (
        <div className="tl tl--human-loop">
          {renderHumanLoop(item)}
        </div>
      );
    case "warning":
      return (
        <div className="tl tl--warning" role="note">
          <strong>Warning</strong>: {item.message}
          {item.reason && <span className="muted"> ({item.reason})</span>}
        </div>
      );
    case "error":
      return (
        <div className="tl tl--error">
          <strong>Error</strong>: {item.message}
          {item.reason && <span className="muted"> ({item.reason})</span>}
          {item.willRetry && <span className="muted"> — the agent will retry</span>}
        </div>
      );
    case "status":
      return (
        <div className="tl tl--status">
          Status: <StatusBadge status={item.status} />
          {item.reason && <span className="muted"> — {item.reason}</span>}
          {item.error && <span className="bad"> — {item.error}</span>}
          <Meta item={item} />
        </div>
      );
    case "usage": {
      const total = int64(item.usage.total?.totalTokens);
      return (
        <div className="tl tl--usage muted">
          {formatCount(total)} tokens so far{item.usage.model ? ` · ${item.usage.model}` : ""}
        </div>
      );
    }
    case "workspace_synced":
      return (
        <div className="tl tl--synced muted">
          Workspace saved as <Link to={`/workspaces/${encodeURIComponent(item.workspaceId)}`}>version {item.version}</Link>
          {item.changedPaths.length + item.deletedPaths.length > 0 &&
            ` · ${item.changedPaths.length} changed, ${item.deletedPaths.length} deleted`}
        </div>
      );
  }
}

export const TimelineRow = memo(function TimelineRow(props: RowProps) {
  return <Body {...props} />;
});
