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

/**
 * A `fetch` over node:http. With `open`, every request travels over a stream
 * it returns (an SSH channel to an agent's Unix socket), so the typed API
 * client works unchanged against a fleet host. Without, it connects to the
 * URL's host and port (plain http: only): the CLI's calls, one process each,
 * where the global fetch costs its loading and, more, keeps the process from
 * exiting for a few hundred milliseconds after its answer (undici's pool).
 */
export function fetchOver(open?: OpenStream): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!open && url.protocol !== 'http:') return Promise.reject(new TypeError(`fetchOver: only http: URLs (${url.protocol})`));
    const headers: Record<string, string> = { connection: 'close' };
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    return new Promise<Response>((resolve, reject) => {
      const req = http.request(
        {
          method: init.method ?? 'GET',
          path: url.pathname + url.search,
          headers,
          signal: init.signal ?? undefined,
          ...(open ? { createConnection: connectionOver(open) } : { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, agent: false }),
        },
        (res) => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 304 || init.method === 'HEAD';
          if (empty) res.resume();
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
  });
}
