// The page's only contact with the world: flowscope's JSON API on the same origin.
// Every answer is an envelope, {"ok": true, "data": …, "took_ms": …} or
// {"ok": false, "error": {"type", "message", "position"}}; a failed one becomes an ApiError.

export class ApiError extends Error {
  constructor(
    message: string,
    readonly type: string,
    readonly position: number | null = null,
    readonly status = 0,
    readonly hint: string | null = null,
  ) {
    super(message);
  }
}

export interface Timing {
  path: string;
  ms: number;
  took_ms: number | null;
}

/** Round trips, newest last: the browser test and the console read them. */
export const requestLog: Timing[] = [];

type Params = Record<string, string | number | undefined | null | string[]>;

function url(path: string, params: Params = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else p.set(k, String(v));
  }
  const qs = p.toString();
  return `/api/${path}${qs ? `?${qs}` : ""}`;
}

async function call<T>(path: string, init: RequestInit, signal?: AbortSignal): Promise<T> {
  const t0 = performance.now();
  let res: Response;
  try {
    res = await fetch(path, { ...init, signal, headers: { Accept: "application/json", ...init.headers } });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError("flowscope is not answering: is `flowscope serve` running?", "network");
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`${res.status} ${res.statusText} from ${path}`, "http", null, res.status);
  }
  const env = body as {
    ok?: boolean;
    data?: T;
    took_ms?: number;
    error?: { type?: string; message?: string; position?: number | null; hint?: string | null };
    detail?: unknown;
  };
  requestLog.push({ path, ms: performance.now() - t0, took_ms: env.took_ms ?? null });
  if (requestLog.length > 200) requestLog.shift();
  if (env.ok === true) return env.data as T;
  if (env.error) {
    throw new ApiError(
      env.error.message ?? "error",
      env.error.type ?? "error",
      env.error.position ?? null,
      res.status,
      env.error.hint ?? null,
    );
  }
  throw new ApiError(
    `${res.status} ${res.statusText}: ${JSON.stringify(env.detail ?? body).slice(0, 200)}`,
    "http",
    null,
    res.status,
  );
}

export function get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  return call<T>(url(path, params), { method: "GET" }, signal);
}

export function post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return call<T>(
    url(path),
    { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } },
    signal,
  );
}
