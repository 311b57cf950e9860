import { createRequire } from 'node:module';
import type WebSocket from 'ws';
// Not the core barrel: each CLI command is a process, and loads only what it uses.
import { BothubError, ERROR_CODES, type ErrorBody } from '../core/errors.js';
import type { BodyOf, JsonRouteName, ParamsOf, QueryOf, ReplyOf, RouteDef, RouteName } from './routes.js';
import type { ProgressEventT } from './schemas.js';
import { routeUrl } from './route-url.js';
import { connectionOver, fetchOver, type OpenStream } from './stream-transport.js';

export interface CallOptions {
  signal?: AbortSignal;
  /** This call's time limit, instead of the route's or the client's default (0: none). */
  timeoutMs?: number;
}

export interface FetchArgs extends CallOptions {
  params?: unknown;
  query?: unknown;
  body?: unknown;
  rawBody?: BodyInit;
}

type Part<Key extends string, T> = T extends undefined ? { [P in Key]?: undefined } : { [P in Key]: T };
export type CallArgs<K extends RouteName> = Part<'params', ParamsOf<K>> & Part<'query', QueryOf<K>> & Part<'body', BodyOf<K>>;

/** How long a call may wait for the daemon's answer unless its route or the caller says otherwise. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;

export interface ClientOptions {
  token?: string;
  /** Cancels every call of this client; joined with each call's own signal and time limit, never replaced by them. */
  signal?: AbortSignal;
  /** Default time limit of a call (0: none). A JSON call must be answered whole within it; a stream must start within it. */
  timeoutMs?: number;
  /** Names the daemon, and what to do, when it cannot be reached (a fleet host's agent). */
  unreachable?: { what: string; hint: string };
  /** Every connection (HTTP and WebSocket) runs on a stream this opens: how the control plane reaches fleet agents, through SSH. */
  openStream?: OpenStream;
  /** Sends the JSON and byte calls instead of the global fetch (tests call the daemon in-process, through Fastify's inject). */
  fetch?: typeof fetch;
}

/** What a client needs of the route table: each route's method, URL, kind of stream and time limit, not its schemas. */
export type RoutePaths = Record<RouteName, Pick<RouteDef, 'method' | 'url' | 'stream' | 'timeoutMs'>>;


// ws is loaded by the first WebSocket, so commands that make none start without it.
const load = createRequire(import.meta.url);

/**
 * The typed API client over a route table. Every method's arguments and reply
 * come from the route table, so the CLI cannot drift from the daemon.
 * `ApiClient` is this over the full table; the CLI passes only the method and
 * URL of each route, so a command starts without loading the schemas.
 */
export class RouteClient {
  constructor(
    readonly baseUrl: string,
    private readonly options: ClientOptions,
    private readonly routes: RoutePaths,
  ) {}

  url(route: RouteName, params?: Record<string, string>, query?: Record<string, unknown>): string {
    const u = new URL(routeUrl(this.routes[route].url, params), this.baseUrl);
    // Query schemas allow scalars only.
    for (const [k, v] of Object.entries(query ?? {}) as [string, string | number | boolean | undefined][]) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}), ...extra };
  }

  /** Sends a request and turns connection failures and error replies into BothubErrors. */
  async fetch(route: RouteName, args: FetchArgs): Promise<Response> {
    const limit = this.limit(route, args.timeoutMs);
    try {
      return await this.send(route, args, limit);
    } finally {
      // Only the answer's start is bounded for a stream: how long it then flows is the caller's to decide.
      limit.stop();
    }
  }

  async call<K extends JsonRouteName>(route: K, args: CallArgs<K> & CallOptions = {} as CallArgs<K> & CallOptions): Promise<ReplyOf<K>> {
    const limit = this.limit(route, args.timeoutMs);
    try {
      const res = await this.send(route, args, limit);
      if (res.status === 204) return undefined as ReplyOf<K>;
      return (await res.json().catch((e: unknown) => {
        throw limit.error(e) ?? unreachable(this.baseUrl, e, this.options.unreachable);
      })) as ReplyOf<K>;
    } finally {
      limit.stop();
    }
  }

  private limit(route: RouteName, override: number | undefined): TimeLimit {
    const def = this.routes[route];
    // An upload's answer comes after its whole body, however large: only the caller's signal bounds it by default.
    const ms = override ?? def.timeoutMs ?? (def.stream === 'upload' ? 0 : (this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    const within = ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
    return new TimeLimit(ms, `the daemon at ${this.baseUrl} did not answer ${route} within ${within}; it may still finish: check with \`bothub inspect\` or \`bothub events\`, or allow longer with BOTHUB_TIMEOUT`);
  }

  private async send(route: RouteName, args: FetchArgs, limit: TimeLimit): Promise<Response> {
    const def = this.routes[route];
    const url = this.url(route, args.params as Record<string, string>, args.query as Record<string, unknown>);
    const json = args.body !== undefined;
    const signals = [limit.signal, args.signal, this.options.signal].filter((s): s is AbortSignal => s !== undefined);
    let res: Response;
    try {
      res = await (this.options.fetch ?? (this.options.openStream ? fetchOver(this.options.openStream) : fetch))(url, {
        method: def.method,
        headers: this.headers(json ? { 'content-type': 'application/json' } : args.rawBody ? { 'content-type': 'application/octet-stream' } : {}),
        body: json ? JSON.stringify(args.body) : args.rawBody,
        signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals),
        ...(args.rawBody ? { duplex: 'half' } : {}),
      });
    } catch (e) {
      throw limit.error(e) ?? unreachable(this.baseUrl, e, this.options.unreachable);
    }
    if (!res.ok) throw await errorFrom(res);
    return res;
  }

  /** Reads an NDJSON progress stream; the last line is the result. */
  async progress<T>(route: RouteName, args: FetchArgs, onProgress: (p: ProgressEventT) => void): Promise<T> {
    const res = await this.fetch(route, args);
    let last: unknown;
    let buffered = '';
    const decoder = new TextDecoder();
    const handle = (line: string) => {
      if (!line.trim()) return;
      const msg = JSON.parse(line) as { progress?: ProgressEventT; result?: unknown; error?: ErrorBody };
      if (msg.error) throw new BothubError(msg.error.code, msg.error.message);
      if (msg.progress) onProgress(msg.progress);
      if ('result' in msg) last = msg.result;
    };
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(handle);
    }
    handle(buffered);
    if (last === undefined) throw new BothubError('INTERNAL', 'the daemon ended the stream without a result; see the daemon log');
    return last as T;
  }

  /** How long a WebSocket's handshake may take: the client's default time limit (0: none). */
  get handshakeTimeoutMs(): number {
    return this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  websocket(route: RouteName, params: Record<string, string> = {}, query?: Record<string, unknown>): WebSocket {
    const url = this.url(route, params, query).replace(/^http/, 'ws');
    const open = this.options.openStream;
    const handshakeTimeout = this.handshakeTimeoutMs;
    const WebSocketClass = load('ws') as typeof WebSocket;
    return new WebSocketClass(url, { headers: this.headers(), ...(handshakeTimeout ? { handshakeTimeout } : {}), ...(open ? { createConnection: connectionOver(open) as never } : {}) });
  }
}

export function unreachable(
  baseUrl: string,
  e: unknown,
  named = { what: `the bothub daemon at ${baseUrl}`, hint: 'start it with `bothub serve` or `systemctl start bothub`, or point --url / BOTHUB_URL at it' },
): BothubError {
  if (e instanceof BothubError) return e;
  const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
  // The caller's own signal: a cancel (AbortSignal.timeout() aborts with a TimeoutError).
  if (['AbortError', 'TimeoutError'].includes((e as Error).name)) return new BothubError('ABORTED', 'cancelled');
  return new BothubError('UNAVAILABLE', `cannot reach ${named.what} (${cause}); ${named.hint}`);
}

export async function errorFrom(res: Response): Promise<BothubError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as ErrorBody;
    const code = (body.code in ERROR_CODES ? body.code : 'INTERNAL');
    return new BothubError(code, body.message);
  } catch {
    return new BothubError('INTERNAL', `the daemon answered ${res.status}: ${text.slice(0, 200)}`);
  }
}

/** A call's time limit: a timer that aborts, and tells its own abort apart from the caller's. */
class TimeLimit {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  readonly signal: AbortSignal | undefined;

  constructor(
    ms: number,
    private readonly message: string,
  ) {
    if (ms > 0) {
      this.timer = setTimeout(() => this.controller.abort(), ms);
      this.signal = this.controller.signal;
    }
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The error to report when this limit is what cut the call short. */
  error(cause: unknown): BothubError | undefined {
    return this.controller.signal.aborted ? new BothubError('TIMED_OUT', this.message, { cause }) : undefined;
  }
}
