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
 * A `fetch` whose every request travels over a stream `open` returns (an SSH
 * channel to an agent's Unix socket), so the typed API client works unchanged
 * against a fleet host.
 */
export function fetchOver(open: OpenStream): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = { connection: 'close' };
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    return new Promise<Response>((resolve, reject) => {
      const req = http.request(
        {
          method: init.method ?? 'GET',
          path: url.pathname + url.search,
          headers,
          signal: init.signal ?? undefined,
          createConnection: connectionOver(open),
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
      req.on('error', reject);
      const body = init.body as unknown;
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else if (body instanceof Readable) body.pipe(req);
      else if (body instanceof ReadableStream) Readable.fromWeb(body as import('node:stream/web').ReadableStream).pipe(req);
      else reject(new TypeError('fetchOver: unsupported body type'));
    });
  });
}
