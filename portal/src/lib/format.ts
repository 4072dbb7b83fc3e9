// Times, durations and counts as a person reads them.

/** 2100 → "2.1s", 151000 → "2m31s", 3_900_000 → "1h05m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, "0")}m`;
  return `${minutes}m${String(seconds).padStart(2, "0")}s`;
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "3 minutes ago", "in 58 minutes". */
export function formatRelative(time: Date, now: Date = new Date()): string {
  const seconds = Math.round((time.getTime() - now.getTime()) / 1000);
  const abs = Math.abs(seconds);
  // A few seconds ahead is clock skew or a stale "now", not a future event.
  if (seconds > -45 && seconds < 10) return "just now";
  if (abs < 45) return seconds < 0 ? "just now" : "in a few seconds";
  if (abs < 90 * 60) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 22 * 3600) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

/** 12400 → "12.4k". */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}
