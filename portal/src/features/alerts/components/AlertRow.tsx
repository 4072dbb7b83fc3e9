// One alert as a table row: severity, what happened, the run, tenant, age,
// state, and Acknowledge while it is open.
import { useId } from "react";
import { Link } from "react-router-dom";
import { RelativeTime } from "@/components/Time";
import type { ReconcileAlert } from "@/lib/api/types";
import { useAcknowledgeAlert } from "../api/alerts";
import {
  acknowledgedByWords,
  alertState,
  kindLabel,
  severityLabel,
  severityTone,
  stateLabel,
} from "../model";

function SeverityBadge({ severity }: { severity: string | undefined }) {
  return (
    <span className={`severity severity--${severityTone(severity)}`}>
      <span className="severity__dot" aria-hidden="true" />
      {severityLabel(severity)}
    </span>
  );
}

function AlertStateCell({ alert, myKeyId }: { alert: ReconcileAlert; myKeyId: string | null }) {
  const state = alertState(alert);
  const who = acknowledgedByWords(alert, myKeyId);
  return (
    <div className="alert-state-cell">
      <span className={`alert-state alert-state--${state}`}>
        <span className="alert-state__dot" aria-hidden="true" />
        {stateLabel(state)}
      </span>
      {state === "acknowledged" && (who || alert.acknowledgedAt) ? (
        <span className="alert-state__when">
          {who ? <>by {who === "you" ? "you" : <code>{who}</code>} </> : null}
          <RelativeTime time={alert.acknowledgedAt ?? alert.resolvedAt} />
        </span>
      ) : null}
      {state === "resolved" && alert.resolvedAt ? (
        <span className="alert-state__when">
          by itself <RelativeTime time={alert.resolvedAt} />
        </span>
      ) : null}
    </div>
  );
}

export interface AlertRowProps {
  alert: ReconcileAlert;
  myKeyId: string | null;
  /** Keep this row in view after acting on it (see `withHeld`). */
  onHold: (alert: ReconcileAlert) => void;
}

export function AlertRow({ alert, myKeyId, onHold }: AlertRowProps) {
  const acknowledge = useAcknowledgeAlert();
  const messageId = useId();
  const state = alertState(alert);
  // FAILED_PRECONDITION: the alert resolved by itself meanwhile; asking again answers the same.
  const settled = acknowledge.error?.code === "FAILED_PRECONDITION";
  const runHref = alert.runId ? `/runs/${encodeURIComponent(alert.runId)}` : null;
  return (
    <tr className={`alerts-table__row alerts-table__row--${state}`}>
      <td>
        <SeverityBadge severity={alert.severity} />
      </td>
      <td className="alerts-table__alert">
        <span className="alerts-table__kind">
          {kindLabel(alert.kind)} <code className="muted">{alert.kind}</code>
        </span>
        <span id={messageId} className="alerts-table__message">
          {alert.message}
        </span>
      </td>
      <td>
        {runHref ? (
          <Link to={runHref} className="mono">
            {alert.runId}
          </Link>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
      <td>{alert.tenant ? <span className="mono">{alert.tenant}</span> : <span className="muted">platform</span>}</td>
      <td>
        <RelativeTime time={alert.createdAt} />
      </td>
      <td>
        <AlertStateCell alert={alert} myKeyId={myKeyId} />
      </td>
      <td className="alerts-table__actions">
        {state === "open" && alert.id ? (
          <button
            type="button"
            aria-describedby={messageId}
            disabled={acknowledge.isPending || settled}
            onClick={() =>
              acknowledge.mutate(alert.id ?? "", {
                onSuccess: (acknowledged) => onHold(acknowledged.id ? acknowledged : alert),
                onError: () => onHold(alert),
              })
            }
          >
            {acknowledge.isPending ? "Acknowledging…" : "Acknowledge"}
          </button>
        ) : null}
        {acknowledge.error ? (
          <p role="alert" className="alerts-table__error">
            {acknowledge.error.sentence}
          </p>
        ) : null}
      </td>
    </tr>
  );
}
