// Test helpers: a scripted fetch serving SSE bodies the test writes into.
import type { RunEvent } from "../api/types";

export interface OpenBody {
  url: string;
  headers: Headers;
  /** Write raw SSE text. */
  write(text: string): void;
  /** Write one frame: `id:`, `event:` and JSON `data:`. */
  frame(data: unknown, event?: string, id?: string | number): void;
  /** End the body normally. */
  end(): void;
  /** Break the connection. */
  fail(): void;
  aborted: boolean;
}

type Reply = ((url: string, body: OpenBody) => Response | undefined) | Response;

/**
 * `fetch` replacement. Each call takes the next scripted reply: a Response,
 * or a function that may write into the streaming body it is handed. With no
 * reply left, the call streams a body that stays open.
 */
export function scriptedFetch(replies: Reply[] = []) {
  const calls: OpenBody[] = [];
  const waiters: (() => boolean)[] = [];
  const encoder = new TextEncoder();
  const impl = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({ start: (c) => (controller = c) });
    const body: OpenBody = {
      url,
      headers: new Headers(init?.headers),
      aborted: false,
      write: (text) => controller.enqueue(encoder.encode(text)),
      frame: (data, event, id) =>
        controller.enqueue(
          encoder.encode(`${id !== undefined ? `id: ${id}\n` : ""}${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`),
        ),
      end: () => controller.close(),
      fail: () => controller.error(new TypeError("network error")),
    };
    init?.signal?.addEventListener("abort", () => {
      body.aborted = true;
      try {
        controller.error(new DOMException("aborted", "AbortError"));
      } catch {
        // already closed
      }
    });
    if (init?.signal?.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
    calls.push(body);
    const reply = replies.shift();
    let response: Response | undefined = undefined;
    if (reply instanceof Response) response = reply;
    else if (reply) response = reply(url, body);
    for (const waiter of waiters.splice(0)) if (!waiter()) waiters.push(waiter);
    return Promise.resolve(
      response ?? new Response(stream, { status: 200, headers: { "content-type": "text/event-stream" } }),
    );
  };
  /** Resolves with the next connection (or the n-th, counting from 1). */
  const connection = (n: number): Promise<OpenBody> =>
    new Promise((resolve) => {
      const check = () => {
        if (calls.length < n) return false;
        resolve(calls[n - 1]);
        return true;
      };
      if (!check()) waiters.push(check);
    });
  return { fetch: impl as typeof fetch, calls, connection };
}

export function statusResponse(httpStatus: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ code, message, details: [] }), {
    status: httpStatus,
    headers: { "content-type": "application/json" },
  });
}

/** Let pending promises and microtasks run. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

let clock = Date.UTC(2026, 0, 1);
export function ev(seq: number, type: string, payload: Partial<RunEvent> = {}): RunEvent {
  clock += 1000;
  return { runId: "run_1", seq: String(seq), type, time: new Date(clock).toISOString(), turnId: "turn_1", ...payload };
}
