// A Server-Sent Events client over fetch streaming (not EventSource: the
// session cookie goes same-origin, a 401 is seen as a 401, and the resume
// cursor is ours to choose). It reconnects with backoff from the cursor the
// consumer supplies; it does not dedupe or order — the consumer's store does.
import { notifyUnauthorized } from "./api/client";
import { apiErrorFromResponse, apiErrorFromStatus, networkError, type ApiError } from "./api/errors";

export type ConnectionState = "connecting" | "live" | "reconnecting" | "ended";

export interface SseFrame {
  /** The `id:` line, or null when the frame had none. */
  id: string | null;
  /** The `event:` line; "message" when absent. */
  event: string;
  data: string;
}

/** Splits a byte stream's text into SSE frames (the WHATWG rules, minus `retry:`). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;

  /** Feed decoded text; returns the frames it completed. */
  push(text: string): SseFrame[] {
    this.buffer += text;
    const frames: SseFrame[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) break;
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const frame = this.line(line);
      if (frame !== null) frames.push(frame);
    }
    return frames;
  }

  private line(line: string): SseFrame | null {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const frame = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.data = [];
      this.event = "";
      this.id = null;
      return frame;
    }
    if (line.startsWith(":")) return null; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return null;
  }
}

/** Codes after which reconnecting cannot help. */
const FATAL_CODES = new Set(["NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT", "UNAUTHENTICATED"]);

export interface StreamMessage<T> {
  data: T;
  event: string;
  id: string | null;
}

export interface StreamOptions<T> {
  /** Path (and query) of the stream, e.g. `/api/runs/run_1/events`. */
  url: string;
  /** The cursor to resume from, asked before every (re)connect; null or 0 sends none. */
  cursor: () => number | null;
  /** Query parameter carrying the cursor. */
  cursorParam?: string;
  /** One parsed `data:` per frame, in arrival order. */
  onMessage: (message: StreamMessage<T>) => void;
  onStateChange?: (state: ConnectionState) => void;
  /** An `event: error` Status, an HTTP error or a lost connection, in words. */
  onError?: (error: ApiError) => void;
  /**
   * Whether a clean end of the response body means the stream is over (a
   * run's log ends after its final event). False for feeds that never end:
   * then a closed body is a disconnect and the client reconnects.
   */
  endOnClose?: boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  fetch?: typeof fetch;
  /** Waits between attempts; injectable so tests need no timers. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface StreamHandle {
  readonly state: ConnectionState;
  /** Drop the current connection and reconnect now from `cursor()` (gap refill). */
  restart(): void;
  /** Stop for good; the state becomes `ended`. */
  close(): void;
  /** Resolves when the stream has ended (closed, finished or given up). */
  readonly done: Promise<void>;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function withCursor(url: string, param: string, cursor: number | null): string {
  if (cursor === null || cursor <= 0) return url;
  const [path, query = ""] = url.split("?", 2);
  const params = new URLSearchParams(query);
  params.set(param, String(cursor));
  return `${path}?${params.toString()}`;
}

type Outcome = "ended" | "reconnect" | "restart" | "stop";

/** Opens a stream and keeps it open until it ends, fails for good or is closed. */
export function openStream<T>(options: StreamOptions<T>): StreamHandle {
  const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  const sleep = options.sleep ?? defaultSleep;
  const initialBackoff = options.initialBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 5000;
  const cursorParam = options.cursorParam ?? "afterSeq";
  const endOnClose = options.endOnClose ?? true;

  let state: ConnectionState = "connecting";
  let closed = false;
  let attempt: AbortController | null = null;
  let restartRequested = false;
  const closing = new AbortController();

  const setState = (next: ConnectionState) => {
    if (state === next) return;
    state = next;
    options.onStateChange?.(next);
  };

  async function connectOnce(): Promise<{ outcome: Outcome; received: boolean }> {
    attempt = new AbortController();
    const signal = attempt.signal;
    let received = false;
    let response: Response;
    try {
      response = await fetchImpl(withCursor(options.url, cursorParam, options.cursor()), {
        method: "GET",
        credentials: "same-origin",
        headers: { accept: "text/event-stream" },
        cache: "no-store",
        signal,
      });
    } catch (error) {
      if (signal.aborted) return { outcome: closed ? "stop" : "restart", received };
      options.onError?.(networkError(error));
      return { outcome: "reconnect", received };
    }
    if (response.status === 401) {
      notifyUnauthorized();
      options.onError?.(await apiErrorFromResponse(response));
      return { outcome: "stop", received };
    }
    if (!response.ok || response.body === null) {
      const error = await apiErrorFromResponse(response);
      options.onError?.(error);
      return { outcome: FATAL_CODES.has(error.code) ? "stop" : "reconnect", received };
    }
    setState("live");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
          if (frame.event === "error") {
            let body: unknown = null;
            try {
              body = JSON.parse(frame.data);
            } catch {
              // not a Status: reported as UNKNOWN
            }
            const error = apiErrorFromStatus(body);
            if (error.code === "UNAUTHENTICATED") notifyUnauthorized();
            options.onError?.(error);
            await reader.cancel().catch(() => undefined);
            return { outcome: FATAL_CODES.has(error.code) ? "stop" : "reconnect", received };
          }
          let data: T;
          try {
            data = JSON.parse(frame.data) as T;
          } catch {
            continue; // a frame that is not JSON carries nothing for us
          }
          received = true;
          options.onMessage({ data, event: frame.event, id: frame.id });
          if (signal.aborted) break; // restart() or close() from inside onMessage
        }
        if (signal.aborted) break;
      }
    } catch (error) {
      if (!signal.aborted) {
        options.onError?.(networkError(error));
        return { outcome: "reconnect", received };
      }
    }
    if (signal.aborted) {
      await reader.cancel().catch(() => undefined);
      return { outcome: closed ? "stop" : "restart", received };
    }
    return { outcome: endOnClose ? "ended" : "reconnect", received };
  }

  async function run(): Promise<void> {
    let backoff = initialBackoff;
    while (!closed) {
      restartRequested = false;
      const { outcome, received } = await connectOnce();
      if (closed || outcome === "stop" || outcome === "ended") break;
      if (outcome === "restart" || restartRequested) {
        setState("reconnecting");
        continue;
      }
      setState("reconnecting");
      if (received) backoff = initialBackoff;
      await sleep(backoff, closing.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
    closed = true;
    setState("ended");
  }

  const done = run();

  return {
    get state() {
      return state;
    },
    restart() {
      if (closed) return;
      restartRequested = true;
      attempt?.abort();
    },
    close() {
      if (closed) return;
      closed = true;
      closing.abort();
      attempt?.abort();
    },
    done,
  };
}
