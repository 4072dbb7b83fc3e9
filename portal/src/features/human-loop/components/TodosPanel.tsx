// The run's todo list, live, and every earlier version of it (folded).
import { useId } from "react";
import { ConnectionIndicator } from "@/components/ConnectionIndicator";
import { ErrorBanner } from "@/components/ErrorBanner";
import { RelativeTime } from "@/components/Time";
import type { TodoItem, TodoStatus } from "@/lib/api/types";
import { currentTodos, type TodoVersion } from "../todos/todosState";
import { useTodos, useTodosConnection } from "../todos/useTodos";

const STATUS: Record<TodoStatus, { word: string; icon: string; tone: string }> = {
  TODO_STATUS_UNSPECIFIED: { word: "pending", icon: "○", tone: "pending" },
  TODO_STATUS_PENDING: { word: "pending", icon: "○", tone: "pending" },
  TODO_STATUS_IN_PROGRESS: { word: "in progress", icon: "◐", tone: "in-progress" },
  TODO_STATUS_COMPLETED: { word: "done", icon: "✓", tone: "completed" },
};

function TodoList({ items }: { items: readonly TodoItem[] }) {
  if (items.length === 0) return <p className="hint">The list is empty.</p>;
  return (
    <ol className="todo-list">
      {items.map((item, i) => {
        const s = STATUS[item.status ?? "TODO_STATUS_UNSPECIFIED"] ?? STATUS.TODO_STATUS_UNSPECIFIED;
        return (
          <li key={`${item.order ?? i}:${item.text}`} className={`todo todo--${s.tone}`}>
            <span className="todo__icon" aria-hidden="true">
              {s.icon}
            </span>
            <span className="todo__text">{item.text}</span>
            <span className="todo__status">{s.word}</span>
          </li>
        );
      })}
    </ol>
  );
}

function doneCount(v: TodoVersion): string {
  const done = v.items.filter((i) => i.status === "TODO_STATUS_COMPLETED").length;
  return `${done} of ${v.items.length} done`;
}

export function TodosPanel({ runId }: { runId: string }) {
  const titleId = useId();
  const todos = useTodos(runId);
  const connection = useTodosConnection(runId);
  const current = currentTodos(todos);
  return (
    <section className="todos" aria-labelledby={titleId}>
      <header className="todos__header">
        <h2 id={titleId}>Todos</h2>
        {current ? <span className="todos__version">Version {current.version}</span> : null}
        <ConnectionIndicator state={connection.state} />
      </header>
      {connection.state === "ended" && connection.error ? <ErrorBanner error={connection.error} /> : null}
      {current ? (
        <>
          {current.explanation ? <p className="todos__explanation">{current.explanation}</p> : null}
          <TodoList items={current.items} />
          <p className="hint">
            {doneCount(current)}
            {current.time ? (
              <>
                {" · updated "}
                <RelativeTime time={current.time} />
              </>
            ) : null}
          </p>
        </>
      ) : (
        <p className="placeholder">{connection.state === "connecting" ? "Loading…" : "The agent has made no plan yet."}</p>
      )}
      {todos.versions.length > 1 ? (
        <details className="todos__versions">
          <summary>Versions ({todos.versions.length})</summary>
          <ol className="todos__version-list" aria-label="Versions">
            {todos.versions.map((v) => (
              <li key={v.version}>
                <details>
                  <summary>
                    v{v.version}
                    <span className="hint">
                      {" · "}
                      {doneCount(v)}
                      {v.time ? (
                        <>
                          {" · "}
                          <RelativeTime time={v.time} />
                        </>
                      ) : null}
                    </span>
                  </summary>
                  {v.explanation ? <p className="todos__explanation">{v.explanation}</p> : null}
                  <TodoList items={v.items} />
                </details>
              </li>
            ))}
          </ol>
        </details>
      ) : null}
    </section>
  );
}
