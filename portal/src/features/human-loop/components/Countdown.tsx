import { useEffect, useState } from "react";
import { formatRemaining, formatRemainingCoarse } from "../model";

/** Milliseconds since the epoch, refreshed every `intervalMs`. */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/**
 * "expires in 58m 12s", ticking every second for the eye; a screen reader
 * hears a coarse version ("about 60 minutes") only when that changes.
 */
export function Countdown({ expiresAt }: { expiresAt: string | null }) {
  const now = useNow(1000);
  if (!expiresAt) return null;
  const deadline = Date.parse(expiresAt);
  if (Number.isNaN(deadline)) return null;
  const left = deadline - now;
  const urgent = left < 5 * 60_000;
  return (
    <p className={`hl-countdown${urgent ? " hl-countdown--urgent" : ""}`}>
      <span aria-hidden="true" title={new Date(deadline).toLocaleString()}>
        {left > 0 ? `expires in ${formatRemaining(left)}` : "time is up; expiring…"}
      </span>
      <span className="visually-hidden" aria-live="polite">
        {left > 0 ? `expires in ${formatRemainingCoarse(left)}` : "time is up"}
      </span>
    </p>
  );
}
