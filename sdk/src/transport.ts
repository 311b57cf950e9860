import { Readable } from 'node:stream';
import { Deadline, type CallOptions } from './deadline.js';
import { errorFromBody, errorFromResponse } from './errors.js';
import { routes, routeUrl, type BodyOf, type JsonRouteName, type ParamsOf, type QueryOf, type ReplyOf, type RouteName } from './generated/routes.js';
import type { ProgressEventT } from './generated/schemas.js';

type Part<Key extends string, T> = T extends undefined ? { [P in Key]?: undefined } : { [P in Key]: T };
/** A route's params, query and JSON body, typed by the route table. */
export type CallArgs<K extends RouteName> = Part<'params', ParamsOf<K>> & Part<'query', QueryOf<K>> & Part<'body', BodyOf<K>>;

/** Bytes to send as a request body: the routes that take uploads (files, archives). */
export type UploadBody = string | Uint8Array | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

export interface RequestArgs {
  params?: object;
  query?: object;
  body?: unknown;
  upload?: UploadBody;
}

export interface TransportOptions {
  url: string;
  token?: string;
  /** Default deadline of a call, in ms (0: none). */
  timeoutMs: number;
  /** Default deadline of long operations (snapshot, restore, move, image build), in ms. */
  operationTimeoutMs: number;
  fetch?: typeof fetch;
}

export type ProgressHandler = (p: ProgressEventT) => void;

/** An upload body as fetch takes it; streams need `duplex: 'half'`. */
function uploadInit(body: UploadBody): { body: BodyInit; duplex?: 'half' } {
  if (typeof body === 'string' || body instanceof Uint8Array || body instanceof Blob) return { body: body as BodyInit };
  const stream = body instanceof ReadableStream ? body : (Readable.toWeb(Readable.from(body)) as unknown as ReadableStream<Uint8Array>);
  return { body: stream as BodyInit, duplex: 'half' };
}

/**
 * HTTP to the daemon: URLs from the route table, the bearer key, a deadline
 * on every call, and every failure turned into an error of its class.
 */
export class Transport {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(readonly options: TransportOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
  }

  url(route: RouteName, params?: object, query?: object): URL {
    const u = new URL(routeUrl(routes[route].url, params as Record<string, string>), this.baseUrl + '/');
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}), ...extra };
  }

  /** Runs `work` under the call's deadline and turns whatever it throws into a BothubError. */
  async run<T>(opts: CallOptions | undefined, defaultMs: number, work: (signal: AbortSignal | undefined, deadline: Deadline) => Promise<T>): Promise<T> {
    const deadline = Deadline.of(opts, defaultMs);
    try {
      deadline.check();
      return await work(deadline.signal, deadline);
    } catch (e) {
      throw deadline.error(e, this.baseUrl);
    }
  }

  /** Sends one request; an error reply becomes its error. The caller reads the body (under the same signal). */
  async send(route: RouteName, args: RequestArgs, signal: AbortSignal | undefined): Promise<Response> {
    const def = routes[route];
    const json = args.body !== undefined;
    const init = args.upload !== undefined ? uploadInit(args.upload) : json ? { body: JSON.stringify(args.body) } : {};
    const res = await this.fetchImpl(this.url(route, args.params, args.query), {
      method: def.method,
      headers: this.headers(json ? { 'content-type': 'application/json' } : args.upload !== undefined ? { 'content-type': 'application/octet-stream' } : {}),
      signal,
      ...init,
    });
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** A JSON route: its typed reply (undefined for 204). */
  call<K extends JsonRouteName>(route: K, args: CallArgs<K>, opts?: CallOptions): Promise<ReplyOf<K>> {
    return this.json<ReplyOf<K>>(route, args as RequestArgs, opts);
  }

  /** A bytes route (file content, logs): the whole body and its headers. */
  bytes(route: RouteName, args: RequestArgs, opts?: CallOptions): Promise<{ data: Uint8Array; headers: Headers }> {
    return this.run(opts, this.options.timeoutMs, async (signal) => {
      const res = await this.send(route, args, signal);
      return { data: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
    });
  }

  /** Any route answered with one JSON body, or none (204): JSON routes, and uploads. */
  json<T>(route: RouteName, args: RequestArgs, opts?: CallOptions): Promise<T> {
    return this.run(opts, this.options.timeoutMs, async (signal) => {
      const res = await this.send(route, args, signal);
      return (res.status === 204 ? undefined : await res.json()) as T;
    });
  }

  /** A streamed body, chunk by chunk, under the call's deadline (by default none: it lasts as long as the stream). */
  async *stream(route: RouteName, args: RequestArgs, opts?: CallOptions, defaultMs = 0): AsyncGenerator<Uint8Array> {
    const deadline = Deadline.of(opts, defaultMs);
    try {
      deadline.check();
      const res = await this.send(route, args, deadline.signal);
      if (res.body) for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield chunk;
    } catch (e) {
      throw deadline.error(e, this.baseUrl);
    }
  }

  /**
   * A long operation streamed as NDJSON: {"progress"} lines to `onProgress`,
   * then one {"result"} (returned) or {"error"} (thrown as its class).
   */
  operation<T>(route: RouteName, args: RequestArgs, opts?: CallOptions & { onProgress?: ProgressHandler }): Promise<T> {
    return this.run(opts, this.options.operationTimeoutMs, async (signal) => {
      const res = await this.send(route, args, signal);
      for await (const line of ndjsonLines(res)) {
        const msg = line as { progress?: ProgressEventT; result?: T; error?: { code?: string; message?: string } };
        if (msg.error) throw errorFromBody(msg.error as never);
        if (msg.progress) opts?.onProgress?.(msg.progress);
        if ('result' in msg) return msg.result as T;
      }
      throw errorFromBody({ code: 'UNAVAILABLE', message: 'the daemon ended the progress stream without a result; retry, or see the daemon log' });
    });
  }
}

/** The JSON values of an NDJSON body, one per line. */
export async function* ndjsonLines(res: Response): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) yield JSON.parse(l);
  }
  if (buffered.trim()) yield JSON.parse(buffered);
}
