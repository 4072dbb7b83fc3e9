// The alerts page without UI: the filter (in the URL and as the request's
// query), pages merged into one list, an acknowledged alert folded in, and
// alerts in words.
import type { AlertState, ListAlertsResponse, ReconcileAlert } from "@/lib/api/types";

export type StateFilter = "open" | "acknowledged" | "resolved" | "all";

export interface AlertsFilter {
  state: StateFilter;
  /** "" for any severity. */
  severity: string;
  /** "" for any kind. */
  kind: string;
}

export const DEFAULT_FILTER: AlertsFilter = { state: "open", severity: "", kind: "" };
export const PAGE_SIZE = 50;

export const STATE_FILTERS: readonly { value: StateFilter; label: string }[] = [
  { value: "open", label: "Open" },
  { value: "acknowledged", label: "Acknowledged" },
  { value: "resolved", label: "Resolved" },
  { value: "all", label: "All" },
];

export const SEVERITIES = ["critical", "warning"] as const;

/** The kinds the platform raises today; another kind still shows, in its own words. */
export const KINDS = ["lost_expired", "orphaned", "start_timeout", "queued_too_long"] as const;

const KIND_WORDS: Record<string, string> = {
  lost_expired: "Executor lost",
  orphaned: "Orphaned run",
  start_timeout: "Start timed out",
  queued_too_long: "Queued too long",
};

const STATE_OF_FILTER: Record<Exclude<StateFilter, "all">, AlertState> = {
  open: "ALERT_STATE_OPEN",
  acknowledged: "ALERT_STATE_ACKNOWLEDGED",
  resolved: "ALERT_STATE_RESOLVED",
};

function isStateFilter(value: string | null): value is StateFilter {
  return STATE_FILTERS.some((f) => f.value === value);
}

/** The filter in the page's URL (`?state=all&severity=critical&kind=orphaned`); Open by default. */
export function filterFromParams(params: URLSearchParams): AlertsFilter {
  const state = params.get("state");
  const severity = params.get("severity") ?? "";
  return {
    state: isStateFilter(state) ? state : DEFAULT_FILTER.state,
    severity: (SEVERITIES as readonly string[]).includes(severity) ? severity : "",
    kind: (params.get("kind") ?? "").trim(),
  };
}

/** The filter as URL parameters, leaving out the defaults (so `/alerts` is the open alerts). */
export function filterToParams(filter: AlertsFilter): URLSearchParams {
  const params = new URLSearchParams();
  if (filter.state !== DEFAULT_FILTER.state) params.set("state", filter.state);
  if (filter.severity) params.set("severity", filter.severity);
  if (filter.kind) params.set("kind", filter.kind);
  return params;
}

export interface ListAlertsQuery {
  page_size: number;
  page_token?: string;
  state?: AlertState[];
  severity?: string;
  kind?: string;
}

/** `GET /api/reconcile/alerts`'s query for one page of the filter's alerts. */
export function listAlertsQuery(filter: AlertsFilter, pageToken = "", pageSize = PAGE_SIZE): ListAlertsQuery {
  const query: ListAlertsQuery = { page_size: pageSize };
  if (pageToken) query.page_token = pageToken;
  if (filter.state !== "all") query.state = [STATE_OF_FILTER[filter.state]];
  if (filter.severity) query.severity = filter.severity;
  if (filter.kind) query.kind = filter.kind;
  return query;
}

/**
 * The pages loaded so far as one list, newest first. An alert seen on two
 * pages (the newest ones moved the boundary between two loads) shows once,
 * where it was first seen.
 */
export function mergeAlertPages(pages: readonly ListAlertsResponse[]): ReconcileAlert[] {
  const seen = new Set<string>();
  const out: ReconcileAlert[] = [];
  for (const page of pages) {
    for (const alert of page.alerts ?? []) {
      const id = alert.id ?? "";
      if (id !== "" && seen.has(id)) continue;
      seen.add(id);
      out.push(alert);
    }
  }
  return out;
}

/** Loaded pages with `alert` in place of the alert of the same id (the same object when it is not there). */
export function withAlert<T extends { pages: ListAlertsResponse[] }>(data: T | undefined, alert: ReconcileAlert): T | undefined {
  if (data === undefined || !alert.id) return data;
  let changed = false;
  const pages = data.pages.map((page) => {
    if (!(page.alerts ?? []).some((a) => a.id === alert.id)) return page;
    changed = true;
    return { ...page, alerts: (page.alerts ?? []).map((a) => (a.id === alert.id ? alert : a)) };
  });
  return changed ? { ...data, pages } : data;
}

/** int64 ids as strings, compared as numbers: a positive answer when `a` is newer. */
export function compareIds(a: string | undefined, b: string | undefined): number {
  const x = a ?? "";
  const y = b ?? "";
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The list to show: the server's, plus the alerts acted on here that the
 * filter now leaves out (an alert acknowledged under "Open"), each in its
 * place. The row stays where the person clicked until the filter changes,
 * so the rows below do not move under the pointer. The server's copy of an
 * alert wins over the one held.
 */
export function withHeld(alerts: readonly ReconcileAlert[], held: ReadonlyMap<string, ReconcileAlert>): ReconcileAlert[] {
  if (held.size === 0) return [...alerts];
  const shown = new Set(alerts.map((a) => a.id ?? ""));
  const missing = [...held.values()].filter((a) => !shown.has(a.id ?? "")).sort((a, b) => compareIds(b.id, a.id));
  const out: ReconcileAlert[] = [];
  let next = 0;
  for (const alert of alerts) {
    while (next < missing.length && compareIds(missing[next].id, alert.id) > 0) out.push(missing[next++]);
    out.push(alert);
  }
  // Held rows older than every row shown: below them (they were loaded before).
  return out.concat(missing.slice(next));
}

export type AlertStateWord = "open" | "acknowledged" | "resolved";

/** The alert's state, from `state`, else from its timestamps (an older server). */
export function alertState(alert: ReconcileAlert): AlertStateWord {
  switch (alert.state) {
    case "ALERT_STATE_OPEN":
      return "open";
    case "ALERT_STATE_ACKNOWLEDGED":
      return "acknowledged";
    case "ALERT_STATE_RESOLVED":
      return "resolved";
    default:
      if (alert.acknowledgedAt) return "acknowledged";
      return alert.resolvedAt ? "resolved" : "open";
  }
}

export function stateLabel(state: AlertStateWord): string {
  return { open: "Open", acknowledged: "Acknowledged", resolved: "Resolved" }[state];
}

/** "queued_too_long" → "Queued too long"; an unknown kind in its own words. */
export function kindLabel(kind: string | undefined): string {
  const k = kind ?? "";
  if (KIND_WORDS[k]) return KIND_WORDS[k];
  const words = k.replace(/_/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "Alert";
}

/** "critical" or "warning"; anything else is shown as a warning, in its own word. */
export function severityTone(severity: string | undefined): "critical" | "warning" {
  return severity === "critical" ? "critical" : "warning";
}

export function severityLabel(severity: string | undefined): string {
  const s = (severity ?? "").trim() || "warning";
  return s[0].toUpperCase() + s.slice(1);
}

/** What the empty list says for this filter ("No open alerts."). */
export function emptyMessage(filter: AlertsFilter): string {
  const what = filter.state === "all" ? "alerts" : `${filter.state} alerts`;
  if (filter.severity || filter.kind) return `No ${what} match these filters.`;
  return `No ${what}.`;
}

/** Who acknowledged it, in the page's words: "you" for the signed-in key, else the key id. */
export function acknowledgedByWords(alert: ReconcileAlert, myKeyId: string | null | undefined): string {
  const by = alert.acknowledgedBy ?? "";
  if (!by) return "";
  return myKeyId && by === myKeyId ? "you" : by;
}

/** The nav badge's text: "3", or "100+" when there are more than one page holds. */
export function openCountText(count: number, more: boolean): string {
  return more ? `${count}+` : String(count);
}
