// google.rpc.Status → ApiError: a sentence a person can read, and the fields it names.

/** gRPC status codes by number (google.rpc.Code). */
const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;
export type CodeName = (typeof CODE_NAMES)[number] | "NETWORK";

export const Code = Object.fromEntries(CODE_NAMES.map((name, i) => [name, i])) as Record<
  (typeof CODE_NAMES)[number],
  number
>;

// What to say when the server gave no message.
const DEFAULT_SENTENCES: Partial<Record<CodeName, string>> = {
  INVALID_ARGUMENT: "Some of what was sent is not valid.",
  NOT_FOUND: "It was not found.",
  ALREADY_EXISTS: "It already exists.",
  PERMISSION_DENIED: "You are not allowed to do that.",
  RESOURCE_EXHAUSTED: "A limit was reached.",
  FAILED_PRECONDITION: "That cannot be done right now.",
  ABORTED: "Someone else changed it first.",
  UNAUTHENTICATED: "You are not signed in.",
  UNAVAILABLE: "ccplane is not reachable right now.",
  DEADLINE_EXCEEDED: "ccplane took too long to answer.",
  UNIMPLEMENTED: "This server does not support that.",
  NETWORK: "The network request failed. Check your connection.",
};

// HTTP status → gRPC code, for answers without a Status body (grpc-gateway's mapping, reversed).
const HTTP_CODES: Record<number, CodeName> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

export interface FieldViolation {
  field: string;
  description: string;
}

export interface QuotaViolation {
  subject: string;
  description: string;
}

export interface ApiErrorInit {
  code: CodeName;
  message: string;
  httpStatus: number | null;
  reason?: string | null;
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
  quotaViolations?: QuotaViolation[];
  retryAfterMs?: number | null;
  cause?: unknown;
}

export class ApiError extends Error {
  readonly code: CodeName;
  /** The server's own message (may be empty); `sentence` is what to show. */
  readonly serverMessage: string;
  readonly httpStatus: number | null;
  /** ErrorInfo.reason, e.g. "RUN_NOT_FOUND". */
  readonly reason: string | null;
  readonly metadata: Record<string, string>;
  readonly fieldViolations: FieldViolation[];
  readonly quotaViolations: QuotaViolation[];
  readonly retryAfterMs: number | null;

  constructor(init: ApiErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "ApiError";
    this.code = init.code;
    this.serverMessage = init.message;
    this.httpStatus = init.httpStatus;
    this.reason = init.reason ?? null;
    this.metadata = init.metadata ?? {};
    this.fieldViolations = init.fieldViolations ?? [];
    this.quotaViolations = init.quotaViolations ?? [];
    this.retryAfterMs = init.retryAfterMs ?? null;
  }

  /** One readable sentence: the server's message, else a default for the code, plus when to retry. */
  get sentence(): string {
    const base = sentenceCase(this.serverMessage) || DEFAULT_SENTENCES[this.code] || "Something went wrong.";
    if (this.retryAfterMs !== null && this.retryAfterMs > 0) {
      return `${base} Try again in ${Math.ceil(this.retryAfterMs / 1000)} s.`;
    }
    return base;
  }

  /** Each field violation in words: "prompt: must not be empty". */
  get fieldsInWords(): string[] {
    return this.fieldViolations.map((v) => (v.field ? `${fieldInWords(v.field)}: ${v.description}` : v.description));
  }
}

/** "workspace_id" / "request.workspaceId" → "workspace id". */
export function fieldInWords(field: string): string {
  return field
    .split(".")
    .map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase())
    .join(" › ");
}

function sentenceCase(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return "";
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** "1.5s" (proto Duration JSON) → 1500. */
export function parseDurationMs(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const match = /^(-?\d+(?:\.\d+)?)s$/.exec(value);
  return match ? Math.round(Number(match[1]) * 1000) : null;
}

/** An ApiError from a google.rpc.Status JSON body (or anything else the server answered). */
export function apiErrorFromStatus(
  body: unknown,
  httpStatus: number | null = null,
  headers: Headers | null = null,
): ApiError {
  const status = isRecord(body) ? body : {};
  const numeric = typeof status.code === "number" ? status.code : null;
  const code: CodeName =
    numeric !== null && numeric > 0 && numeric < CODE_NAMES.length
      ? CODE_NAMES[numeric]
      : ((httpStatus !== null && HTTP_CODES[httpStatus]) || "UNKNOWN");
  const init: ApiErrorInit = { code, message: str(status.message), httpStatus };
  const fieldViolations: FieldViolation[] = [];
  const quotaViolations: QuotaViolation[] = [];
  for (const detail of Array.isArray(status.details) ? status.details : []) {
    if (!isRecord(detail)) continue;
    const type = str(detail["@type"]);
    if (type.endsWith("google.rpc.ErrorInfo")) {
      init.reason = str(detail.reason) || null;
      init.metadata = isRecord(detail.metadata)
        ? Object.fromEntries(Object.entries(detail.metadata).map(([k, v]) => [k, String(v)]))
        : {};
    } else if (type.endsWith("google.rpc.BadRequest")) {
      for (const v of Array.isArray(detail.fieldViolations) ? detail.fieldViolations : []) {
        if (isRecord(v)) fieldViolations.push({ field: str(v.field), description: str(v.description) });
      }
    } else if (type.endsWith("google.rpc.QuotaFailure")) {
      for (const v of Array.isArray(detail.violations) ? detail.violations : []) {
        if (isRecord(v)) quotaViolations.push({ subject: str(v.subject), description: str(v.description) });
      }
    } else if (type.endsWith("google.rpc.RetryInfo")) {
      init.retryAfterMs = parseDurationMs(detail.retryDelay);
    }
  }
  const retryAfter = Number(headers?.get("retry-after"));
  if (init.retryAfterMs == null && retryAfter > 0) init.retryAfterMs = retryAfter * 1000;
  return new ApiError({ ...init, fieldViolations, quotaViolations });
}

/** An ApiError from a failed HTTP response: its Status body when it has one. */
export async function apiErrorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = JSON.parse(await response.text());
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): the HTTP status decides.
  }
  return apiErrorFromStatus(body, response.status, response.headers);
}

/** A fetch that never reached the server. */
export function networkError(cause: unknown): ApiError {
  return new ApiError({ code: "NETWORK", message: "", httpStatus: null, cause });
}

/** Anything thrown → ApiError (so components have one shape to show). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof TypeError) return networkError(error);
  return new ApiError({
    code: "UNKNOWN",
    message: error instanceof Error ? error.message : String(error),
    httpStatus: null,
    cause: error,
  });
}
