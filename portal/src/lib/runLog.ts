// A run's event log as the timeline shows it: a pure reducer over RunEvents.
//
// The log on the server is gap-free by `seq`. Here, only the contiguous
// prefix 1..N is applied; an event beyond a gap is held aside and the state
// says `needsRefill` (the stream reconnects from N, and the replay fills the
// gap). Duplicates are dropped. Events fold into timeline items keyed by the
// item they belong to (message deltas into one message, output chunks into
// one command), so a long run costs one array copy per batch of events, not
// a recomputation of everything.
import type {
  CommandStatus,
  FileChange,
  HumanLoopAnswer,
  HumanLoopDetails,
  HumanLoopKind,
  PatchStatus,
  RunEvent,
  RunStatus,
  TodosUpdated,
  TurnStatus,
  UsageUpdated,
} from "./api/types";

interface ItemBase {
  /** Stable identity in the timeline (React key). */
  key: string;
  /** Seq of the event that created the item: the timeline's order. */
  seq: number;
  /** Seq of the last event folded into the item. */
  lastSeq: number;
  /** Time of the event that created the item (RFC 3339), when known. */
  time: string | null;
  turnId: string | null;
}

export interface UserMessageItem extends ItemBase {
  kind: "user_message";
  itemId: string;
  text: string;
}
export interface AgentMessageItem extends ItemBase {
  kind: "agent_message";
  itemId: string;
  text: string;
  /** True until message.completed arrives. */
  streaming: boolean;
}
export interface ReasoningItem extends ItemBase {
  kind: "reasoning";
  itemId: string;
  text: string;
}
export type CommandState = "running" | "completed" | "failed" | "declined";
export interface CommandItem extends ItemBase {
  kind: "command";
  itemId: string;
  command: string;
  cwd: string;
  output: string;
  state: CommandState;
  exitCode: number | null;
  durationMs: number | null;
}
export interface FileChangeItem extends ItemBase {
  kind: "file_change";
  itemId: string;
  changes: FileChange[];
  status: PatchStatus;
}
export interface TurnDiffItem extends ItemBase {
  kind: "turn_diff";
  diff: string;
}
export interface TurnItem extends ItemBase {
  kind: "turn";
  state: "running" | "completed" | "interrupted" | "failed";
  error: string;
}
export interface TodosItem extends ItemBase {
  kind: "todos";
  todos: TodosUpdated;
}
export type HumanLoopState = "pending" | "resolved" | "expired" | "canceled";
export interface HumanLoopItem extends ItemBase {
  kind: "human_loop";
  questionId: string;
  requestKind: HumanLoopKind;
  details: HumanLoopDetails;
  expiresAt: string | null;
  state: HumanLoopState;
  answer: HumanLoopAnswer | null;
  /** API key id of whoever answered. */
  resolvedBy: string | null;
  /** When it was resolved, expired or canceled. */
  settledAt: string | null;
  cancelReason: string;
}
export interface WarningItem extends ItemBase {
  kind: "warning";
  message: string;
  reason: string;
}
export interface ErrorItem extends ItemBase {
  kind: "error";
  message: string;
  reason: string;
  willRetry: boolean;
}
export interface StatusItem extends ItemBase {
  kind: "status";
  previous: RunStatus | null;
  status: RunStatus;
  reason: string;
  error: string;
  errorReason: string;
}
export interface UsageItem extends ItemBase {
  kind: "usage";
  usage: UsageUpdated;
}
export interface WorkspaceSyncedItem extends ItemBase {
  kind: "workspace_synced";
  workspaceId: string;
  version: number;
  changedPaths: string[];
  deletedPaths: string[];
}

export type TimelineItem =
  | UserMessageItem
  | AgentMessageItem
  | ReasoningItem
  | CommandItem
  | FileChangeItem
  | TurnDiffItem
  | TurnItem
  | TodosItem
  | HumanLoopItem
  | WarningItem
  | ErrorItem
  | StatusItem
  | UsageItem
  | WorkspaceSyncedItem;

export interface RunLogState {
  /** N: every event 1..N is applied; resume the stream from here. */
  lastSeq: number;
  /** Events beyond a gap, by seq, waiting for the gap to fill. */
  held: ReadonlyMap<number, RunEvent>;
  /** True while events are held: reconnect from `lastSeq` to refill. */
  needsRefill: boolean;
  /** The timeline, ordered by the seq that created each item. */
  items: readonly TimelineItem[];
  /** Item key → position in `items`. */
  index: ReadonlyMap<string, number>;
  status: RunStatus | null;
  threadId: string | null;
  usage: UsageUpdated | null;
  todos: TodosUpdated | null;
  /** Question ids of human-loop requests still waiting, oldest first. */
  pendingQuestions: readonly string[];
  /** Events applied (the prefix length; equals lastSeq). */
  eventCount: number;
}

export const emptyRunLog: RunLogState = Object.freeze({
  lastSeq: 0,
  held: new Map(),
  needsRefill: false,
  items: [],
  index: new Map(),
  status: null,
  threadId: null,
  usage: null,
  todos: null,
  pendingQuestions: [],
  eventCount: 0,
});

/** int64 arrives as a JSON string: "42" → 42; anything else → 0. */
export function parseSeq(value: string | number | undefined | null): number {
  const n = typeof value === "number" ? value : Number(value ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** A mutable working copy of one state, copied lazily, once per batch. */
class Draft {
  items: TimelineItem[] | null = null;
  index: Map<string, number> | null = null;
  held: Map<number, RunEvent> | null = null;
  pending: string[] | null = null;
  next: Omit<RunLogState, "items" | "index" | "held" | "pendingQuestions" | "needsRefill">;

  constructor(readonly base: RunLogState) {
    this.next = {
      lastSeq: base.lastSeq,
      status: base.status,
      threadId: base.threadId,
      usage: base.usage,
      todos: base.todos,
      eventCount: base.eventCount,
    };
  }

  heldMap(): Map<number, RunEvent> {
    return (this.held ??= new Map(this.base.held));
  }

  isHeld(seq: number): boolean {
    return (this.held ?? this.base.held).has(seq);
  }

  find<K extends TimelineItem["kind"]>(key: string, kind: K): Extract<TimelineItem, { kind: K }> | null {
    const position = (this.index ?? this.base.index).get(key);
    if (position === undefined) return null;
    const item = (this.items ?? this.base.items)[position];
    return item.kind === kind ? (item as Extract<TimelineItem, { kind: K }>) : null;
  }

  /** Put `item` at its key's place, or append it. */
  put(item: TimelineItem): void {
    const items = (this.items ??= [...this.base.items]);
    const index = this.index ?? this.base.index;
    const position = index.get(item.key);
    if (position !== undefined) {
      items[position] = item;
      return;
    }
    (this.index ??= new Map(this.base.index)).set(item.key, items.length);
    items.push(item);
  }

  addPending(questionId: string): void {
    const pending = (this.pending ??= [...this.base.pendingQuestions]);
    if (!pending.includes(questionId)) pending.push(questionId);
  }

  removePending(questionId: string): void {
    const pending = (this.pending ??= [...this.base.pendingQuestions]);
    const at = pending.indexOf(questionId);
    if (at !== -1) pending.splice(at, 1);
  }

  finish(): RunLogState {
    const held = this.held ?? this.base.held;
    return {
      ...this.next,
      items: this.items ?? this.base.items,
      index: this.index ?? this.base.index,
      held,
      needsRefill: held.size > 0,
      pendingQuestions: this.pending ?? this.base.pendingQuestions,
    };
  }
}

/**
 * Apply a batch of events (any order, duplicates allowed). Pure: `state` is
 * not changed; unchanged parts of it are shared with the result.
 */
export function applyEvents(state: RunLogState, events: readonly RunEvent[]): RunLogState {
  if (events.length === 0) return state;
  const draft = new Draft(state);
  for (const event of events) {
    const seq = parseSeq(event.seq);
    if (seq === 0 || seq <= draft.next.lastSeq || draft.isHeld(seq)) continue; // unpersisted or duplicate
    if (seq !== draft.next.lastSeq + 1) {
      draft.heldMap().set(seq, event);
      continue;
    }
    applyOne(draft, event, seq);
    // The gap may just have closed: apply what was held behind it.
    while (draft.isHeld(draft.next.lastSeq + 1)) {
      const held = draft.heldMap();
      const nextSeq = draft.next.lastSeq + 1;
      const next = held.get(nextSeq) as RunEvent;
      held.delete(nextSeq);
      applyOne(draft, next, nextSeq);
    }
  }
  return draft.finish();
}

function commandState(status: CommandStatus | undefined): CommandState {
  switch (status) {
    case "COMMAND_STATUS_FAILED":
      return "failed";
    case "COMMAND_STATUS_DECLINED":
      return "declined";
    default:
      return "completed";
  }
}

function turnState(status: TurnStatus | undefined): TurnItem["state"] {
  switch (status) {
    case "TURN_STATUS_INTERRUPTED":
      return "interrupted";
    case "TURN_STATUS_FAILED":
      return "failed";
    default:
      return "completed";
  }
}

function applyOne(draft: Draft, event: RunEvent, seq: number): void {
  draft.next.lastSeq = seq;
  draft.next.eventCount += 1;
  const time = event.time ?? null;
  const turnId = event.turnId || null;
  const base = (key: string): ItemBase => ({ key, seq, lastSeq: seq, time, turnId });
  // Update an existing item of the key, or create it from `base`.
  const touch = <K extends TimelineItem["kind"]>(key: string, kind: K) => {
    const found = draft.find(key, kind);
    return found ? { ...found, lastSeq: seq } : null;
  };

  switch (event.type) {
    case "run.status_changed": {
      const p = event.statusChanged ?? {};
      const status = p.status ?? "RUN_STATUS_UNSPECIFIED";
      draft.next.status = status;
      draft.put({
        ...base(`status:${seq}`),
        kind: "status",
        previous: p.previousStatus ?? null,
        status,
        reason: p.reason ?? "",
        error: p.error ?? "",
        errorReason: p.errorReason ?? "",
      });
      return;
    }
    case "thread.started":
      draft.next.threadId = event.threadStarted?.threadId ?? null;
      return;
    case "turn.started": {
      const id = event.turnStarted?.turnId ?? turnId ?? String(seq);
      draft.put({ ...base(`turn:${id}`), kind: "turn", state: "running", error: "" });
      return;
    }
    case "turn.completed": {
      const p = event.turnCompleted ?? {};
      const key = `turn:${p.turnId ?? turnId ?? seq}`;
      const prev = touch(key, "turn") ?? { ...base(key), kind: "turn" as const, state: "running" as const, error: "" };
      draft.put({ ...prev, state: turnState(p.status), error: p.error ?? "" });
      return;
    }
    case "message.user": {
      const p = event.userMessage ?? {};
      draft.put({ ...base(`user:${p.itemId || seq}`), kind: "user_message", itemId: p.itemId ?? "", text: p.text ?? "" });
      return;
    }
    case "message.delta": {
      const p = event.messageDelta ?? {};
      const key = `message:${p.itemId || seq}`;
      const prev = touch(key, "agent_message");
      draft.put(
        prev
          ? { ...prev, text: prev.text + (p.delta ?? "") }
          : { ...base(key), kind: "agent_message", itemId: p.itemId ?? "", text: p.delta ?? "", streaming: true },
      );
      return;
    }
    case "message.completed": {
      const p = event.messageCompleted ?? {};
      const key = `message:${p.itemId || seq}`;
      const prev = touch(key, "agent_message");
      draft.put(
        prev
          ? { ...prev, text: p.text ?? prev.text, streaming: false }
          : { ...base(key), kind: "agent_message", itemId: p.itemId ?? "", text: p.text ?? "", streaming: false },
      );
      return;
    }
    case "reasoning.summary": {
      const p = event.reasoningSummary ?? {};
      const key = `reasoning:${p.itemId || seq}`;
      const prev = touch(key, "reasoning");
      draft.put(
        prev
          ? { ...prev, text: prev.text ? `${prev.text}\n\n${p.text ?? ""}` : (p.text ?? "") }
          : { ...base(key), kind: "reasoning", itemId: p.itemId ?? "", text: p.text ?? "" },
      );
      return;
    }
    case "command.started": {
      const p = event.commandStarted ?? {};
      const key = `command:${p.itemId || seq}`;
      const prev = touch(key, "command");
      draft.put({
        ...(prev ?? newCommand(base(key), p.itemId ?? "")),
        command: p.command ?? prev?.command ?? "",
        cwd: p.cwd ?? prev?.cwd ?? "",
      });
      return;
    }
    case "command.output": {
      const p = event.commandOutput ?? {};
      const key = `command:${p.itemId || seq}`;
      const prev = touch(key, "command") ?? newCommand(base(key), p.itemId ?? "");
      draft.put({ ...prev, output: prev.output + (p.chunk ?? "") });
      return;
    }
    case "command.completed": {
      const p = event.commandCompleted ?? {};
      const key = `command:${p.itemId || seq}`;
      const prev = touch(key, "command") ?? newCommand(base(key), p.itemId ?? "");
      draft.put({
        ...prev,
        command: p.command || prev.command,
        cwd: p.cwd || prev.cwd,
        // The aggregated output is the whole truth; chunks were a preview.
        output: p.output || prev.output,
        state: commandState(p.status),
        exitCode: p.exitCode ?? null,
        durationMs: p.durationMs === undefined ? null : Number(p.durationMs),
      });
      return;
    }
    case "file_change.completed": {
      const p = event.fileChangeCompleted ?? {};
      draft.put({
        ...base(`file_change:${p.itemId || seq}`),
        kind: "file_change",
        itemId: p.itemId ?? "",
        changes: p.changes ?? [],
        status: p.status ?? "PATCH_STATUS_UNSPECIFIED",
      });
      return;
    }
    case "turn.diff": {
      const p = event.turnDiff ?? {};
      const key = `turn_diff:${p.turnId || turnId || seq}`;
      const prev = touch(key, "turn_diff");
      draft.put({ ...(prev ?? { ...base(key), kind: "turn_diff" as const }), diff: p.diff ?? "" });
      return;
    }
    case "todos.updated": {
      const p = event.todosUpdated ?? {};
      draft.next.todos = p;
      draft.put({ ...base(`todos:${p.version ?? seq}`), kind: "todos", todos: p });
      return;
    }
    case "usage.updated": {
      const p = event.usageUpdated ?? {};
      draft.next.usage = p;
      const key = `usage:${turnId ?? "run"}`;
      const prev = touch(key, "usage");
      draft.put({ ...(prev ?? { ...base(key), kind: "usage" as const }), usage: p });
      return;
    }
    case "human_loop.requested": {
      const p = event.humanLoopRequested ?? {};
      const questionId = p.questionId ?? String(seq);
      draft.addPending(questionId);
      draft.put({
        ...base(`human_loop:${questionId}`),
        kind: "human_loop",
        questionId,
        requestKind: p.kind ?? "HUMAN_LOOP_KIND_UNSPECIFIED",
        details: p.details ?? {},
        expiresAt: p.expiresAt ?? null,
        state: "pending",
        answer: null,
        resolvedBy: null,
        settledAt: null,
        cancelReason: "",
      });
      return;
    }
    case "human_loop.resolved":
    case "human_loop.expired":
    case "human_loop.canceled": {
      const p = event.humanLoopResolved ?? event.humanLoopExpired ?? event.humanLoopCanceled ?? {};
      const questionId = p.questionId ?? "";
      draft.removePending(questionId);
      const key = `human_loop:${questionId}`;
      const prev = touch(key, "human_loop") ?? {
        ...base(key),
        kind: "human_loop" as const,
        questionId,
        requestKind: "HUMAN_LOOP_KIND_UNSPECIFIED" as const,
        details: {},
        expiresAt: null,
        answer: null,
        resolvedBy: null,
        cancelReason: "",
      };
      const state: HumanLoopState =
        event.type === "human_loop.resolved" ? "resolved" : event.type === "human_loop.expired" ? "expired" : "canceled";
      draft.put({
        ...prev,
        state,
        answer: (event.humanLoopResolved ?? event.humanLoopExpired)?.answer ?? prev.answer,
        resolvedBy: event.humanLoopResolved?.resolvedBy ?? prev.resolvedBy,
        cancelReason: event.humanLoopCanceled?.reason ?? prev.cancelReason,
        settledAt: time,
      });
      return;
    }
    case "workspace.synced": {
      const p = event.workspaceSynced ?? {};
      draft.put({
        ...base(`workspace_synced:${seq}`),
        kind: "workspace_synced",
        workspaceId: p.workspaceId ?? "",
        version: Number(p.version ?? 0),
        changedPaths: p.changedPaths ?? [],
        deletedPaths: p.deletedPaths ?? [],
      });
      return;
    }
    case "warning": {
      const p = event.warning ?? {};
      draft.put({ ...base(`warning:${seq}`), kind: "warning", message: p.message ?? "", reason: p.reason ?? "" });
      return;
    }
    case "error": {
      const p = event.error ?? {};
      draft.put({
        ...base(`error:${seq}`),
        kind: "error",
        message: p.message ?? "",
        reason: p.reason ?? "",
        willRetry: p.willRetry ?? false,
      });
      return;
    }
    default:
      // provider.raw and types this build does not know: counted, not shown.
      return;
  }
}

function newCommand(base: ItemBase, itemId: string): CommandItem {
  return {
    ...base,
    kind: "command",
    itemId,
    command: "",
    cwd: "",
    output: "",
    state: "running",
    exitCode: null,
    durationMs: null,
  };
}
