import http from 'node:http';
import { Readable, type Duplex } from 'node:stream';

/** Opens the byte stream one connection runs on (an SSH channel). */
export type OpenStream = () => Promise<Duplex>;

/** node:http's (and ws's) `createConnection`, from a stream opened asynchronously. */
export function connectionOver(open: OpenStream): http.RequestOptions['createConnection'] {
  return ((_opts: unknown, done: (err: Error | null, s?: Duplex) => void) => {
    open().then(
      (s) => done(null, s),
      (e: Error) => done(e),
    );
    return undefined;
  }) as unknown as http.RequestOptions['createConnection'];
}

/** A request's headers as one plain object, without touching the global Headers (see fetchOver). */
function plainHeaders(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!init) return out;
  // A Headers or an array of pairs iterates as pairs; a record does not.
  const entries: Iterable<[string, string]> = Symbol.iterator in init ? (init as Iterable<[string, string]>) : Object.entries(init);
  for (const [k, v] of entries) out[k.toLowerCase()] = v;
  return out;
}

/**
 * The part of a fetch Response the API client and the CLI read (status,
 * headers, the body as a web stream, text, json, bytes), over node:http's
 * answer. The global Response, Headers and Request are undici's: touching
 * any one loads it, 40 to 50 ms of a CLI command's CPU, where node:http is
 * loaded already.
 */
class NodeHttpResponse {
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  private web?: ReadableStream<Uint8Array> | null;
  private used = false;

  constructor(
    readonly status: number,
    private readonly res: http.IncomingMessage | null,
    raw: http.IncomingHttpHeaders,
  ) {
    this.ok = status >= 200 && status < 300;
    this.headers = {
      get: (name) => {
        const v = raw[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    };
  }

  /** Made on first use: a JSON answer is read from node:http's stream itself, without loading web streams. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.web === undefined) this.web = this.res ? (Readable.toWeb(this.res) as ReadableStream<Uint8Array>) : null;
    return this.web;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  private async bytes(): Promise<Buffer> {
    if (this.used) throw new TypeError('the body was read already');
    this.used = true;
    const chunks: Buffer[] = [];
    const from = this.web ?? this.res;
    if (from) for await (const chunk of from as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
}

/**
 * A `fetch` over node:http. With `open`, every request travels over a stream
 * it returns (an SSH channel to an agent's Unix socket), so the typed API
 * client works unchanged against a fleet host. Without, it connects to the
 * URL's host and port (plain http: only): the CLI's calls, one process each,
 * where the global fetch costs its loading and, more, keeps the process from
 * exiting for a few hundred milliseconds after its answer (undici's pool).
 * Its answers are NodeHttpResponse, not the global Response: see there.
 */
export function fetchOver(open?: OpenStream): typeof fetch {
  return ((input: string | URL | { url: string }, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
    if (!open && url.protocol !== 'http:') return Promise.reject(new TypeError(`fetchOver: only http: URLs (${url.protocol})`));
    const headers: Record<string, string> = { connection: 'close', ...plainHeaders(init.headers) };
    return new Promise<NodeHttpResponse | Response>((resolve, reject) => {
      const req = http.request(
        {
          method: init.method ?? 'GET',
          path: url.pathname + url.search,
          headers,
          signal: init.signal ?? undefined,
          ...(open ? { createConnection: connectionOver(open) } : { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, agent: false }),
        },
        (res) => {
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 304 || init.method === 'HEAD';
          if (empty) res.resume();
          if (!open) return resolve(new NodeHttpResponse(status, empty ? null : res, res.headers));
          // Through an agent the daemon passes the answer on, its headers and all: a whole fetch Response (undici is loaded there anyway).
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: h }));
        },
      );
      // As the global fetch fails: a TypeError whose cause carries the socket's code (ECONNREFUSED...); an abort stays one.
      req.on('error', (e: Error) => reject(open || e.name === 'AbortError' ? e : new TypeError('fetch failed', { cause: e })));
      const body = init.body as unknown;
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else if (body instanceof Readable) body.pipe(req);
      else if (body instanceof ReadableStream) Readable.fromWeb(body as import('node:stream/web').ReadableStream).pipe(req);
      else reject(new TypeError('fetchOver: unsupported body type'));
    });
  }) as unknown as typeof fetch;
}
