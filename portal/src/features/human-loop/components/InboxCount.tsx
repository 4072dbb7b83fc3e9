import { usePendingCount } from "../feed/useHumanLoopFeed";

/**
 * The number of requests waiting, live, for the nav link: it reads
 * "Inbox 3 waiting" to assistive technology and shows a badge "3".
 */
export function InboxCount() {
  const count = usePendingCount();
  if (count === 0) return null;
  return (
    <>
      <span className="visually-hidden">{`${count} waiting`}</span>
      <span className="count" aria-hidden="true">
        {count}
      </span>
    </>
  );
}
