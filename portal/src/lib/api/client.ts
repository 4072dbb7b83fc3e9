// The one way the portal reaches ccplane: REST under /api, the session cookie
// sent same-origin. Every 401 is reported to whoever listens (the app, which
// sends the person to sign-in).
import createClient, { type Middleware } from "openapi-fetch";
import { apiErrorFromResponse, apiErrorFromStatus, networkError, toApiError } from "./errors";
import type { paths } from "./schema";

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Call `listener` whenever any request answers 401. Returns an unsubscribe function. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function notifyUnauthorized(): void {
  for (const listener of [...unauthorizedListeners]) listener();
}

const unauthorized: Middleware = {
  onResponse({ response }) {
    if (response.status === 401) notifyUnauthorized();
    return undefined;
  },
};

/** The typed client: `api.GET("/api/runs/{run_id}", { params: { path: { run_id } } })`. */
export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(unauthorized);

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Await an openapi-fetch call and return its data, or throw an ApiError
 * (the Status in words; network failures too). Use it in query functions:
 * `queryFn: () => call(api.GET("/api/runs"))`.
 */
export async function call<T>(request: Promise<FetchResult<T>>): Promise<T> {
  let result: FetchResult<T>;
  try {
    result = await request;
  } catch (error) {
    throw toApiError(error);
  }
  if (result.response.ok) return result.data as T;
  // openapi-fetch has already read the body into `error` (parsed JSON when it was JSON).
  return Promise.reject(apiErrorFromStatus(result.error, result.response.status, result.response.headers));
}

/**
 * A JSON request outside the typed paths (routes the gateway serves itself
 * that the OpenAPI document may not describe yet). Same cookie, same 401
 * hook, same errors.
 */
export async function requestJson<T>(
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  path: string,
  body?: unknown,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? { accept: "application/json" } : { "content-type": "application/json", accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw networkError(error);
  }
  if (response.status === 401) notifyUnauthorized();
  if (!response.ok) throw await apiErrorFromResponse(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : {}) as T;
}
