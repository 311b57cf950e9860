import http from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import WebSocket from 'ws';
import { connectionOver } from '../../api/index.js';
import { BothubError, SYSTEM } from '../../core/index.js';
import type { DaemonContext } from '../context.js';
import { PublishService } from '../services/publish-service.js';
import { SHARE_PARAM } from '../services/share-service.js';
import { bearer, SESSION_COOKIE } from './auth.js';
import { errorBody } from './errors.js';
import { relay } from './ws-relay.js';

/** Headers that describe one hop, not the request: never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization']);

interface Target {
  name: string;
  port: number;
  path: string;
}

/** The path the sandbox sees: the share token is ours, not the app's. */
function upstreamPath(path: string): string {
  if (!path.includes(SHARE_PARAM)) return path;
  const u = new URL(path, 'http://x');
  u.searchParams.delete(SHARE_PARAM);
  return u.pathname + u.search;
}

function hostTarget(req: FastifyRequest, domain: string): Target | undefined {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  const m = new RegExp(`^([a-z0-9-]+)-(\\d{1,5})\\.${domain.replace(/\./g, '\\.')}$`).exec(host);
  return m ? { name: m[1]!, port: Number(m[2]), path: upstreamPath(req.url) } : undefined;
}

function pathTarget(req: FastifyRequest): Target | undefined {
  const m = /^\/p\/([a-z0-9-]+)\/(\d{1,5})(\/.*)?$/.exec(req.url);
  return m ? { name: m[1]!, port: Number(m[2]), path: upstreamPath(m[3] ?? '/') } : undefined;
}

/**
 * Finds the sandbox behind a preview request, checks who may use it, wakes it
 * if it is warm or cold, and returns where to send the request.
 */
interface Upstream {
  address: string;
  port: number;
  /** For a sandbox on a fleet host: the connection goes through SSH, from that host. */
  createConnection?: http.RequestOptions['createConnection'];
}

async function resolve(ctx: DaemonContext, req: FastifyRequest, target: Target): Promise<Upstream> {
  const missing = () =>
    new BothubError('NOT_FOUND', `nothing is published at ${target.name} port ${target.port}; publish it (\`POST /api/v1/sandboxes/${target.name}/publish {"port": ${target.port}}\`)`);
  const row = await ctx.sandboxes.row(target.name, SYSTEM).catch(() => undefined);
  if (!row || !row.address) throw missing();
  const publication = await ctx.publish.find(row, target.port);
  if (!publication) throw missing();
  if (!publication.public) {
    const share = shareToken(req, target);
    if (share && (await ctx.shares.valid(share, row, target.port))) {
      (req as FastifyRequest & { shareToSet?: string }).shareToSet = share;
    } else {
      const token = bearer(req);
      const actor = token ? await ctx.users.authenticate(token) : undefined;
      // A private preview of someone else answers as if nothing were published there.
      if (!actor) throw new BothubError('UNAUTHORIZED', "this preview is private: open a share link (`POST /api/v1/sandboxes/NAME/shares`), or send the owner's API key as a Bearer token");
      if (!PublishService.allowed(actor, row)) throw missing();
    }
  }
  if (row.host !== 'local') {
    const address = row.address;
    const createConnection = connectionOver(() => ctx.hosts.connectTcp(row.host, address, target.port));
    if (row.thermal !== 'hot') await ctx.sandboxes.follow(row.id, await ctx.sandboxes.remote.wake(row));
    return { address, port: target.port, createConnection };
  }
  const { row: awake } = await ctx.thermal.ready(row.name, 'exec', SYSTEM);
  return { address: awake.address!, port: target.port };
}

const PATH_PREVIEW_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

const cookieName = (t: Target) => `bh_share_${t.name.replace(/-/g, '_')}_${t.port}`;

/** A share token from the link's query, or from the cookie a first visit set (so assets load too). */
function shareToken(req: FastifyRequest, target: Target): string | undefined {
  const fromQuery = new URL(req.url, 'http://x').searchParams.get(SHARE_PARAM);
  if (fromQuery) return fromQuery;
  const cookie = req.headers.cookie
    ?.split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === cookieName(target));
  return cookie?.[1] ? decodeURIComponent(cookie[1]) : undefined;
}

function forwardHeaders(req: FastifyRequest): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  // The dashboard's session cookie is the visitor's credential here, never the sandbox's to see (/p/ paths share the daemon's origin).
  const cookies = req.headers.cookie
    ?.split(';')
    .filter((c) => c.trim().split('=')[0] !== SESSION_COOKIE)
    .join(';');
  if (cookies?.trim()) headers.cookie = cookies;
  else delete headers.cookie;
  headers['x-forwarded-for'] = req.ip;
  headers['x-forwarded-host'] = req.headers.host;
  headers['x-forwarded-proto'] = 'http';
  return headers;
}

async function proxyHttp(ctx: DaemonContext, req: FastifyRequest, reply: FastifyReply, target: Target): Promise<void> {
  const upstream = await resolve(ctx, req, target);
  reply.hijack();
  const out = http.request(
    { host: upstream.address, port: upstream.port, method: req.method, path: target.path, headers: forwardHeaders(req), createConnection: upstream.createConnection },
    (res) => {
      const headers: http.OutgoingHttpHeaders = Object.fromEntries(Object.entries(res.headers).filter(([k]) => !HOP.has(k)));
      const share = (req as FastifyRequest & { shareToSet?: string }).shareToSet;
      if (share) {
        const path = req.url.startsWith('/p/') ? `/p/${target.name}/${target.port}/` : '/';
        const cookie = `${cookieName(target)}=${encodeURIComponent(share)}; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=${ctx.shares.secondsLeft(share)}`;
        headers['set-cookie'] = [...(Array.isArray(headers['set-cookie']) ? headers['set-cookie'] : []), cookie];
      }
      // A page served by path shares the dashboard's origin: sandboxed, it runs in an opaque origin of
      // its own, so its scripts cannot reach the API with a signed-in visitor's session cookie.
      if (req.url.startsWith('/p/')) headers['content-security-policy'] = PATH_PREVIEW_CSP;
      reply.raw.writeHead(res.statusCode ?? 502, headers);
      // Piped, not buffered: streaming responses (server-sent events, chunked) pass as they come.
      res.pipe(reply.raw);
    },
  );
  // A sandbox that accepts no connection must not hold the client forever (long responses are fine once connected).
  if (!upstream.createConnection)
    out.on('socket', (sock) => {
      const timer = setTimeout(() => out.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), 10_000);
      sock.once('connect', () => clearTimeout(timer));
      sock.once('close', () => clearTimeout(timer));
    });
  out.on('error', (e) => {
    if (!reply.raw.headersSent) {
      reply.raw.writeHead(502, { 'content-type': 'application/json' });
      reply.raw.end(
        JSON.stringify(
          errorBody('RUNTIME_FAILED', `the sandbox did not answer on port ${target.port} (${(e as NodeJS.ErrnoException).code ?? e.message}); is a server listening there?`, 502),
        ),
      );
    } else reply.raw.destroy();
  });
  req.raw.pipe(out);
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The sandbox side of a proxied WebSocket, opened before the client's upgrade completes. */
    upstreamSocket?: WebSocket;
  }
}

/**
 * Opens the WebSocket to the sandbox first: if nothing listens there the
 * client's upgrade is answered 502 (or 404/401), never accepted and left silent.
 */
async function openUpstream(ctx: DaemonContext, req: FastifyRequest, target: Target): Promise<void> {
  const upstream = await resolve(ctx, req, target);
  const protocols = req.headers['sec-websocket-protocol']?.split(',').map((p) => p.trim());
  const server = new WebSocket(`ws://${upstream.address}:${upstream.port}${target.path}`, protocols, {
    handshakeTimeout: 10_000,
    ...(upstream.createConnection ? { createConnection: upstream.createConnection as never } : {}),
  });
  await new Promise<void>((resolveOpen, reject) => {
    server.once('open', () => resolveOpen());
    server.once('error', (e) =>
      reject(
        new BothubError(
          'RUNTIME_FAILED',
          `the sandbox did not accept a WebSocket on port ${target.port} (${(e as NodeJS.ErrnoException).code ?? e.message}); is a server listening there?`,
        ),
      ),
    );
  });
  req.upstreamSocket = server;
}

/**
 * The preview proxy: http://NAME-PORT.<domain>:7070/… by host name and
 * http://HOST:7070/p/NAME/PORT/… by path. It checks its own credentials
 * (public previews need none), so its routes skip the API's auth hook.
 */
export async function registerPreviewProxy(app: FastifyInstance, ctx: DaemonContext, domain: string): Promise<void> {
  await app.register(async (scope) => {
    // Bodies pass through untouched, whatever their type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    const routes: [string, (req: FastifyRequest) => Target | undefined, object][] = [
      ['/p/:name/:port', pathTarget, {}],
      ['/p/:name/:port/*', pathTarget, {}],
      ['/*', (req) => hostTarget(req, domain), { constraints: { host: new RegExp(`^[a-z0-9-]+-\\d{1,5}\\.${domain.replace(/\./g, '\\.')}(:\\d+)?$`) } }],
    ];
    for (const [url, target, extra] of routes) {
      const handler = async (req: FastifyRequest, reply: FastifyReply) => {
        const t = target(req);
        if (!t) return reply.code(404).send(errorBody('NOT_FOUND', 'not a preview URL'));
        return proxyHttp(ctx, req, reply, t);
      };
      scope.route({ method: ['DELETE', 'PATCH', 'POST', 'PUT', 'OPTIONS', 'HEAD'], url, config: { auth: 'none' }, handler, ...extra });
      scope.route({
        method: 'GET',
        url,
        config: { auth: 'none' },
        preHandler: async (req) => {
          const t = target(req);
          if (t && req.headers.upgrade?.toLowerCase() === 'websocket') await openUpstream(ctx, req, t);
        },
        handler,
        wsHandler: (socket: WebSocket, req: FastifyRequest) => {
          if (req.upstreamSocket) relay(socket, req.upstreamSocket);
          else socket.close(4404, 'not a preview URL');
        },
        ...extra,
      });
    }
  });
}
