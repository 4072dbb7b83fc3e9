// `/alerts`: what the platform raised (runs lost, orphaned, stuck starting,
// queued without capacity), newest first, filtered by state, severity and
// kind (in the URL), each open one acknowledgeable here. Admin only: anyone
// else is told so.
import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import { ErrorBanner } from "@/components/ErrorBanner";
import { Spinner } from "@/components/Spinner";
import { useSession } from "@/features/auth";
import type { ReconcileAlert } from "@/lib/api/types";
import { isPermissionDenied, useAlerts } from "../api/alerts";
import {
  KINDS,
  SEVERITIES,
  STATE_FILTERS,
  emptyMessage,
  filterFromParams,
  filterToParams,
  kindLabel,
  mergeAlertPages,
  severityLabel,
  withHeld,
  type AlertsFilter,
  type StateFilter,
} from "../model";
import { AlertRow } from "./AlertRow";

const NONE_HELD: ReadonlyMap<string, ReconcileAlert> = new Map();

export function AlertsPage() {
  const [params, setParams] = useSearchParams();
  const filter = filterFromParams(params);
  const filterKey = filterToParams(filter).toString();
  const alerts = useAlerts(filter);
  const session = useSession();
  // Rows acted on under this filter, kept in place until the filter changes.
  const [held, setHeld] = useState<{ key: string; alerts: ReadonlyMap<string, ReconcileAlert> }>({
    key: filterKey,
    alerts: NONE_HELD,
  });
  // A new filter lets them go (also when the person comes back to this one).
  if (held.key !== filterKey) setHeld({ key: filterKey, alerts: NONE_HELD });
  const heldHere = held.key === filterKey ? held.alerts : NONE_HELD;

  const hold = (alert: ReconcileAlert) => {
    if (!alert.id) return;
    const id = alert.id;
    setHeld((previous) => {
      const next = new Map(previous.key === filterKey ? previous.alerts : NONE_HELD);
      next.set(id, alert);
      return { key: filterKey, alerts: next };
    });
  };

  const update = (changes: Partial<AlertsFilter>) => setParams(filterToParams({ ...filter, ...changes }));

  if (isPermissionDenied(alerts.error)) {
    return (
      <section className="page alerts-page" aria-labelledby="alerts-title">
        <h1 id="alerts-title">Alerts</h1>
        <p className="notice">
          Alerts are visible to administrators. Sign in with an administrator&apos;s API key to see and
          acknowledge them.
        </p>
      </section>
    );
  }

  const list = withHeld(mergeAlertPages(alerts.data?.pages ?? []), heldHere);
  const kinds: string[] = [...KINDS];
  if (filter.kind && !kinds.includes(filter.kind)) kinds.push(filter.kind);

  return (
    <section className="page alerts-page" aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      <div className="alerts-filters" role="group" aria-label="Filter alerts">
        <label>
          <span>State</span>
          <select value={filter.state} onChange={(e) => update({ state: e.target.value as StateFilter })}>
            {STATE_FILTERS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Severity</span>
          <select value={filter.severity} onChange={(e) => update({ severity: e.target.value })}>
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {severityLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Kind</span>
          <select value={filter.kind} onChange={(e) => update({ kind: e.target.value })}>
            <option value="">Any</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
      </div>

      {alerts.error ? <ErrorBanner error={alerts.error} onRetry={() => void alerts.refetch()} /> : null}
      {alerts.isPending ? (
        alerts.error ? null : <Spinner label="Loading alerts…" />
      ) : list.length === 0 ? (
        <p className="placeholder">{emptyMessage(filter)}</p>
      ) : (
        <table className="alerts-table" aria-label="Alerts">
          <thead>
            <tr>
              <th scope="col">Severity</th>
              <th scope="col">Alert</th>
              <th scope="col">Run</th>
              <th scope="col">Tenant</th>
              <th scope="col">Raised</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((alert) => (
              <AlertRow key={alert.id} alert={alert} myKeyId={session.data?.keyId ?? null} onHold={hold} />
            ))}
          </tbody>
        </table>
      )}
      {alerts.hasNextPage ? (
        <div className="pager">
          <button type="button" onClick={() => void alerts.fetchNextPage()} disabled={alerts.isFetchingNextPage}>
            Load more
          </button>
          {alerts.isFetchingNextPage ? <Spinner label="Loading more alerts…" /> : null}
        </div>
      ) : null}
    </section>
  );
}
