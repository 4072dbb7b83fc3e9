// A run's todo versions, streamed into a store; the stream ends with the run.
import { createStore, type StoreApi } from "zustand/vanilla";
import type { StreamTodoEventsResponse } from "@/lib/api/types";
import type { ConnectionInfo } from "@/lib/runLogStore";
import { openStream, type StreamOptions } from "@/lib/sse";
import { applyTodoVersions, emptyTodos, type TodosState } from "./todosState";

export interface TodosFollower {
  runId: string;
  store: StoreApi<TodosState>;
  connection: StoreApi<ConnectionInfo>;
  close(): void;
  done: Promise<void>;
}

export type TodosOptions = Pick<
  StreamOptions<StreamTodoEventsResponse>,
  "fetch" | "sleep" | "initialBackoffMs" | "maxBackoffMs"
>;

export function followTodos(runId: string, options: TodosOptions = {}): TodosFollower {
  const store = createStore<TodosState>(() => emptyTodos);
  const connection = createStore<ConnectionInfo>(() => ({ state: "connecting", error: null }));
  const stream = openStream<StreamTodoEventsResponse>({
    ...options,
    url: `/api/runs/${encodeURIComponent(runId)}/todos/events`,
    cursorParam: "afterVersion",
    cursor: () => store.getState().lastVersion,
    // Versions are few: each is applied as it comes.
    onMessage: ({ data }) => store.setState(applyTodoVersions(store.getState(), [data]), true),
    onStateChange: (state) => connection.setState(state === "live" ? { state, error: null } : { state }),
    onError: (error) => connection.setState({ error }),
  });
  return { runId, store, connection, close: () => stream.close(), done: stream.done };
}
