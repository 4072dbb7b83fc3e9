// A run's todo versions, live; components showing the same run share one stream.
import type { ConnectionInfo } from "@/lib/runLogStore";
import { createSharedRegistry, useSharedStore } from "../shared";
import { followTodos, type TodosFollower } from "./followTodos";
import { emptyTodos, type TodosState } from "./todosState";

const registry = createSharedRegistry<TodosFollower>((runId) => followTodos(runId));
const pickState = (f: TodosFollower) => f.store;
const pickConnection = (f: TodosFollower) => f.connection;
const connecting: ConnectionInfo = { state: "connecting", error: null };

export function useTodos(runId: string): TodosState {
  return useSharedStore(registry, runId, pickState, emptyTodos);
}

export function useTodosConnection(runId: string): ConnectionInfo {
  return useSharedStore(registry, runId, pickConnection, connecting);
}
