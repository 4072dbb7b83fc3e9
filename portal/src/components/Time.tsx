import { useEffect, useState } from "react";
import { formatDuration, formatRelative } from "@/lib/format";

/** "3 minutes ago", refreshed every 30 s; the exact time on hover. */
export function RelativeTime({ time }: { time: string | null | undefined }) {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), 30_000);
    return () => clearInterval(timer);
  }, []);
  if (!time) return null;
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return null;
  return (
    <time dateTime={time} title={date.toLocaleString()}>
      {formatRelative(date, now)}
    </time>
  );
}

export function Duration({ ms }: { ms: number | null | undefined }) {
  if (ms === null || ms === undefined) return null;
  return <span className="duration">{formatDuration(ms)}</span>;
}
