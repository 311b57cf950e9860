import type { JsonRouteName, ReplyOf, Routes, RouteName } from '../../../src/api/routes.js';
import type { ProgressEventT } from '../../../src/api/schemas.js';
import { ROUTES, type UsedRoute } from './routes.js';

/**
 * The dashboard's only way to the daemon: same-origin requests that carry the
 * session cookie, and the CSRF token on every non-GET. Typed by the daemon's
 * own route table (types only: nothing of the daemon is bundled).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken = '';
export const setCsrfToken = (t: string) => (csrfToken = t);

/** Called when a request finds the session gone (expired, signed out elsewhere). */
let onSignedOut: () => void = () => undefined;
export const setOnSignedOut = (f: () => void) => (onSignedOut = f);

export function routeUrl(route: UsedRoute, params?: Record<string, string | number>, query?: Record<string, unknown>): string {
  const path = ROUTES[route].url.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(String(params?.[k] ?? '')));
  const q = new URLSearchParams();
  // Query schemas allow scalars only.
  for (const [k, v] of Object.entries(query ?? {}) as [string, string | number | boolean | undefined][]) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function request(method: string, url: string, init: { json?: unknown; body?: BodyInit; signal?: AbortSignal } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== 'GET' && csrfToken) headers['x-bothub-csrf'] = csrfToken;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  else if (init.body !== undefined) headers['content-type'] = 'application/octet-stream';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
      signal: init.signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'UNAVAILABLE', `cannot reach the bothub daemon (${(e as Error).message}); check that it is running`);
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  let err: ApiError;
  try {
    const body = JSON.parse(text) as { code?: string; message?: string };
    err = new ApiError(res.status, body.code ?? 'INTERNAL', body.message ?? text);
  } catch {
    err = new ApiError(res.status, 'INTERNAL', `the daemon answered ${res.status}: ${text.slice(0, 500)}`);
  }
  if (res.status === 401) onSignedOut();
  return err;
}

type Args = { params?: Record<string, string | number>; query?: Record<string, unknown>; body?: unknown; signal?: AbortSignal };

/** One JSON route: its reply, typed from the route table. */
export async function call<K extends JsonRouteName & UsedRoute>(route: K, args: Args = {}): Promise<ReplyOf<K>> {
  const res = await request(ROUTES[route].method, routeUrl(route, args.params, args.query), { json: args.body, signal: args.signal });
  if (res.status === 204) return undefined as ReplyOf<K>;
  return (await res.json()) as ReplyOf<K>;
}

/** An NDJSON progress stream (snapshot, restore, move): progress lines, then the result. */
export async function progress<T>(route: Exclude<UsedRoute, JsonRouteName>, args: Args, onProgress: (p: ProgressEventT) => void): Promise<T> {
  const res = await request(ROUTES[route].method, routeUrl(route, args.params, args.query), { json: args.body ?? {}, signal: args.signal });
  let result: { value: T } | undefined;
  const handle = (line: string) => {
    if (!line.trim()) return;
    const msg = JSON.parse(line) as { progress?: ProgressEventT; result?: T; error?: { code: string; message: string } };
    if (msg.error) throw new ApiError(500, msg.error.code, msg.error.message);
    if (msg.progress) onProgress(msg.progress);
    if ('result' in msg) result = { value: msg.result as T };
  };
  let buffered = '';
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    lines.forEach(handle);
  }
  handle(buffered);
  if (!result) throw new ApiError(500, 'INTERNAL', 'the daemon ended the stream without a result; see the daemon log');
  return result.value;
}

/** A WebSocket on this origin (the browser sends the cookie and the Origin the daemon checks). */
export function socketUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export type { RouteName, Routes };
