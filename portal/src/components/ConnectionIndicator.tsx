import type { ConnectionState } from "@/lib/sse";

const WORDS: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  live: "",
  reconnecting: "Reconnecting…",
  ended: "",
};

/** A quiet live-region: says "Reconnecting…" while a stream catches up. */
export function ConnectionIndicator({ state }: { state: ConnectionState }) {
  return (
    <span role="status" className={`connection connection--${state}`}>
      {WORDS[state]}
    </span>
  );
}
