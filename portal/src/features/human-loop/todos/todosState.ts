// A run's todo list and its earlier versions: a pure reducer over the frames
// of GET /api/runs/{id}/todos/events (every version, in order).
import type { StreamTodoEventsResponse, TodoItem } from "@/lib/api/types";
import { parseSeq } from "@/lib/runLog";

export interface TodoVersion {
  version: number;
  /** In list order. */
  items: readonly TodoItem[];
  explanation: string;
  time: string | null;
  seq: number;
}

export interface TodosState {
  /** Resume the stream after this version. */
  lastVersion: number;
  /** Every version seen, oldest first; the last one is the current list. */
  versions: readonly TodoVersion[];
}

export const emptyTodos: TodosState = Object.freeze({ lastVersion: 0, versions: [] });

function byOrder(a: TodoItem, b: TodoItem): number {
  return (a.order ?? 0) - (b.order ?? 0);
}

/** Apply a batch of versions; a version already held is ignored. Pure. */
export function applyTodoVersions(state: TodosState, frames: readonly StreamTodoEventsResponse[]): TodosState {
  let versions: TodoVersion[] | null = null;
  for (const frame of frames) {
    const version = frame.version ?? 0;
    if (!Number.isSafeInteger(version) || version <= 0) continue;
    const current = versions ?? state.versions;
    if (current.some((v) => v.version === version)) continue; // a replay
    versions ??= [...state.versions];
    versions.push({
      version,
      items: [...(frame.items ?? [])].sort(byOrder),
      explanation: frame.explanation ?? "",
      time: frame.time ?? null,
      seq: parseSeq(frame.seq),
    });
  }
  if (versions === null) return state;
  versions.sort((a, b) => a.version - b.version);
  return { lastVersion: versions[versions.length - 1].version, versions };
}

/** The current list (the highest version), or null before the agent made one. */
export function currentTodos(state: TodosState): TodoVersion | null {
  return state.versions.length > 0 ? state.versions[state.versions.length - 1] : null;
}
