// Every TanStack Query key in one place, so mutations know what to invalidate.
export const queryKeys = {
  session: ["session"] as const,
  runs: {
    all: ["runs"] as const,
    list: (filter: Record<string, unknown> = {}) => ["runs", "list", filter] as const,
    detail: (runId: string) => ["runs", "detail", runId] as const,
    todos: (runId: string) => ["runs", "detail", runId, "todos"] as const,
  },
  humanLoop: {
    all: ["human-loop"] as const,
  },
  alerts: {
    all: ["alerts"] as const,
    lists: ["alerts", "list"] as const,
    list: (filter: Record<string, unknown> = {}) => ["alerts", "list", filter] as const,
    /** The nav badge: how many alerts are open. */
    openCount: ["alerts", "open-count"] as const,
  },
  workspaces: {
    all: ["workspaces"] as const,
    list: ["workspaces", "list"] as const,
    /** The new-run form's workspace picker (under `list`, so invalidating the list refreshes it). */
    choices: ["workspaces", "list", "choices"] as const,
    detail: (workspaceId: string) => ["workspaces", "detail", workspaceId] as const,
    files: (workspaceId: string, path = "") => ["workspaces", "detail", workspaceId, "files", path] as const,
    audit: (workspaceId: string) => ["workspaces", "detail", workspaceId, "audit"] as const,
    file: (workspaceId: string, path: string) => ["workspaces", "detail", workspaceId, "file", path] as const,
  },
} as const;
