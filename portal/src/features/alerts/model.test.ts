import { describe, expect, it } from "vitest";
import type { ListAlertsResponse, ReconcileAlert } from "@/lib/api/types";
import {
  DEFAULT_FILTER,
  acknowledgedByWords,
  alertState,
  compareIds,
  emptyMessage,
  filterFromParams,
  filterToParams,
  kindLabel,
  listAlertsQuery,
  mergeAlertPages,
  openCountText,
  withAlert,
  withHeld,
} from "./model";

function alert(id: string, extra: Partial<ReconcileAlert> = {}): ReconcileAlert {
  return {
    id,
    kind: "queued_too_long",
    severity: "warning",
    message: `alert ${id}`,
    state: "ALERT_STATE_OPEN",
    createdAt: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

const ids = (alerts: ReconcileAlert[]) => alerts.map((a) => a.id);

describe("alerts filter", () => {
  it("reads the URL, open alerts by default, ignoring what it does not know", () => {
    expect(filterFromParams(new URLSearchParams())).toEqual(DEFAULT_FILTER);
    expect(filterFromParams(new URLSearchParams("state=all&severity=critical&kind=orphaned"))).toEqual({
      state: "all",
      severity: "critical",
      kind: "orphaned",
    });
    expect(filterFromParams(new URLSearchParams("state=bogus&severity=loud"))).toEqual(DEFAULT_FILTER);
  });

  it("writes the URL without the defaults, and reads back what it wrote", () => {
    expect(filterToParams(DEFAULT_FILTER).toString()).toBe("");
    const filter = { state: "acknowledged", severity: "warning", kind: "lost_expired" } as const;
    const params = filterToParams(filter);
    expect(params.toString()).toBe("state=acknowledged&severity=warning&kind=lost_expired");
    expect(filterFromParams(params)).toEqual(filter);
  });

  it("turns into the request's query", () => {
    expect(listAlertsQuery(DEFAULT_FILTER)).toEqual({ page_size: 50, state: ["ALERT_STATE_OPEN"] });
    expect(listAlertsQuery({ state: "all", severity: "", kind: "" }, "tok", 10)).toEqual({
      page_size: 10,
      page_token: "tok",
    });
    expect(listAlertsQuery({ state: "resolved", severity: "critical", kind: "orphaned" })).toEqual({
      page_size: 50,
      state: ["ALERT_STATE_RESOLVED"],
      severity: "critical",
      kind: "orphaned",
    });
    expect(listAlertsQuery({ state: "acknowledged", severity: "", kind: "" }).state).toEqual([
      "ALERT_STATE_ACKNOWLEDGED",
    ]);
  });

  it("says what an empty list means", () => {
    expect(emptyMessage(DEFAULT_FILTER)).toBe("No open alerts.");
    expect(emptyMessage({ state: "all", severity: "", kind: "" })).toBe("No alerts.");
    expect(emptyMessage({ state: "acknowledged", severity: "critical", kind: "" })).toBe(
      "No acknowledged alerts match these filters.",
    );
  });
});

describe("alert pages", () => {
  it("merges pages in order, each alert once", () => {
    const pages: ListAlertsResponse[] = [
      { alerts: [alert("12"), alert("11")], nextPageToken: "a" },
      // A new alert pushed "11" over the boundary between the two loads.
      { alerts: [alert("11"), alert("10"), alert("9")], nextPageToken: "" },
      {},
    ];
    expect(ids(mergeAlertPages(pages))).toEqual(["12", "11", "10", "9"]);
    expect(mergeAlertPages([])).toEqual([]);
  });

  it("folds an acknowledged alert into the page that holds it", () => {
    const data = {
      pages: [{ alerts: [alert("3"), alert("2")] }, { alerts: [alert("1")] }],
      pageParams: ["", "t"],
    };
    const acknowledged = alert("2", {
      state: "ALERT_STATE_ACKNOWLEDGED",
      acknowledgedBy: "key_1",
      acknowledgedAt: "2026-01-01T00:05:00Z",
      resolvedAt: "2026-01-01T00:05:00Z",
    });
    const next = withAlert(data, acknowledged);
    expect(next).not.toBe(data);
    expect(next?.pages[0].alerts?.[1]).toBe(acknowledged);
    expect(next?.pages[0].alerts?.[0]).toBe(data.pages[0].alerts[0]);
    // Untouched pages and the original data stay as they were.
    expect(next?.pages[1]).toBe(data.pages[1]);
    expect(next?.pageParams).toBe(data.pageParams);
    expect(alertState(data.pages[0].alerts[1])).toBe("open");
    // Not loaded here: nothing changes.
    expect(withAlert(data, alert("99"))).toBe(data);
    expect(withAlert(undefined, acknowledged)).toBeUndefined();
  });

  it("keeps rows acted on in their place when the server leaves them out", () => {
    const acknowledged = alert("5", { state: "ALERT_STATE_ACKNOWLEDGED" });
    const held = new Map([["5", acknowledged]]);
    const shown = withHeld([alert("7"), alert("6"), alert("4")], held);
    expect(ids(shown)).toEqual(["7", "6", "5", "4"]);
    expect(shown[2]).toBe(acknowledged);
    // The newest, and the oldest.
    expect(ids(withHeld([alert("4")], new Map([["9", alert("9")], ["1", alert("1")]])))).toEqual(["9", "4", "1"]);
    // The server's copy wins when it has one.
    const server = alert("5", { state: "ALERT_STATE_RESOLVED" });
    expect(withHeld([server], held)).toEqual([server]);
  });

  it("compares int64 ids as numbers", () => {
    expect(compareIds("10", "9")).toBeGreaterThan(0);
    expect(compareIds("9", "10")).toBeLessThan(0);
    expect(compareIds("12", "12")).toBe(0);
  });
});

describe("alerts in words", () => {
  it("reads the state, from the timestamps when the server gives none", () => {
    expect(alertState(alert("1", { state: "ALERT_STATE_RESOLVED" }))).toBe("resolved");
    expect(alertState(alert("1", { state: undefined, acknowledgedAt: "2026-01-01T00:00:00Z" }))).toBe("acknowledged");
    expect(alertState(alert("1", { state: "ALERT_STATE_UNSPECIFIED", resolvedAt: "2026-01-01T00:00:00Z" }))).toBe(
      "resolved",
    );
    expect(alertState(alert("1", { state: undefined }))).toBe("open");
  });

  it("names kinds, known and not", () => {
    expect(kindLabel("lost_expired")).toBe("Executor lost");
    expect(kindLabel("queued_too_long")).toBe("Queued too long");
    expect(kindLabel("disk_full")).toBe("Disk full");
    expect(kindLabel(undefined)).toBe("Alert");
  });

  it("says who acknowledged", () => {
    const a = alert("1", { acknowledgedBy: "key_me" });
    expect(acknowledgedByWords(a, "key_me")).toBe("you");
    expect(acknowledgedByWords(a, "key_other")).toBe("key_me");
    expect(acknowledgedByWords(alert("2"), "key_me")).toBe("");
  });

  it("counts open alerts for the badge", () => {
    expect(openCountText(3, false)).toBe("3");
    expect(openCountText(100, true)).toBe("100+");
  });
});
