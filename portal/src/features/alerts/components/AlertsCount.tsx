import { useOpenAlertCount } from "../api/alerts";
import { openCountText } from "../model";

/**
 * The number of open alerts, polled, for the nav link: it reads "Alerts 3
 * open" to assistive technology and shows a badge "3". Nothing when none is
 * open, or when the server does not let this person see alerts.
 */
export function AlertsCount() {
  const open = useOpenAlertCount();
  if (!open.data || open.data.count === 0) return null;
  const text = openCountText(open.data.count, open.data.more);
  return (
    <>
      <span className="visually-hidden">{`${text} open`}</span>
      <span className="count count--alerts" aria-hidden="true">
        {text}
      </span>
    </>
  );
}
