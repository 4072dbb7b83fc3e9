import { describe, expect, it } from "vitest";
import type { StreamTodoEventsResponse, TodoStatus } from "@/lib/api/types";
import { scriptedFetch, settle } from "@/lib/testing/fakeStream";
import { followTodos } from "./followTodos";
import { applyTodoVersions, currentTodos, emptyTodos } from "./todosState";

function version(n: number, ...statuses: TodoStatus[]): StreamTodoEventsResponse {
  return {
    runId: "run_1",
    version: n,
    seq: String(n * 10),
    time: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
    explanation: n === 1 ? "Three steps." : "",
    // sent out of order: the panel shows them by `order`
    items: statuses.map((status, order) => ({ text: `step ${order}`, status, order })).reverse(),
  };
}

describe("applyTodoVersions", () => {
  it("keeps every version in order; the last is the current list", () => {
    let s = applyTodoVersions(emptyTodos, [version(1, "TODO_STATUS_IN_PROGRESS", "TODO_STATUS_PENDING")]);
    expect(currentTodos(s)?.version).toBe(1);
    expect(currentTodos(s)?.items.map((i) => i.text)).toEqual(["step 0", "step 1"]);
    expect(currentTodos(s)?.explanation).toBe("Three steps.");
    s = applyTodoVersions(s, [
      version(2, "TODO_STATUS_COMPLETED", "TODO_STATUS_IN_PROGRESS"),
      version(3, "TODO_STATUS_COMPLETED", "TODO_STATUS_COMPLETED"),
    ]);
    expect(s.lastVersion).toBe(3);
    expect(s.versions.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(currentTodos(s)?.items.map((i) => i.status)).toEqual(["TODO_STATUS_COMPLETED", "TODO_STATUS_COMPLETED"]);
    expect(s.versions[1].seq).toBe(20);
  });

  it("ignores a version it already has, and frames without a version", () => {
    const s1 = applyTodoVersions(emptyTodos, [version(1, "TODO_STATUS_PENDING"), version(2, "TODO_STATUS_COMPLETED")]);
    const s2 = applyTodoVersions(s1, [version(2, "TODO_STATUS_PENDING"), { runId: "run_1" }]);
    expect(s2).toBe(s1);
    expect(currentTodos(s2)?.items[0].status).toBe("TODO_STATUS_COMPLETED");
  });

  it("puts a late older version in its place", () => {
    const s = applyTodoVersions(emptyTodos, [version(2, "TODO_STATUS_COMPLETED"), version(1, "TODO_STATUS_PENDING")]);
    expect(s.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(s.lastVersion).toBe(2);
  });

  it("has no current list before the first version", () => {
    expect(currentTodos(emptyTodos)).toBeNull();
  });
});

describe("followTodos", () => {
  it("resumes after the last version with afterVersion, and ends with the run", async () => {
    const fake = scriptedFetch();
    const follower = followTodos("run_1", { fetch: fake.fetch, sleep: async () => {} });
    const first = await fake.connection(1);
    expect(first.url).toBe("/api/runs/run_1/todos/events");
    first.frame(version(1, "TODO_STATUS_PENDING"), "todos.updated", 1);
    await settle();
    first.fail();
    const second = await fake.connection(2);
    expect(second.url).toBe("/api/runs/run_1/todos/events?afterVersion=1");
    second.frame(version(2, "TODO_STATUS_COMPLETED"), "todos.updated", 2);
    second.end();
    await follower.done;
    expect(follower.store.getState().versions.map((v) => v.version)).toEqual([1, 2]);
    expect(follower.connection.getState().state).toBe("ended");
  });
});
