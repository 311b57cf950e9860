import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import { ExecServerMessage, routes, Sandbox, type ApiClient, type RouteDef, type RouteName, type SandboxT } from '../../api/index.js';
import type { Progress } from '../../runtime/index.js';
import { BothubError, type ErrorCode } from '../../core/index.js';
import type { DaemonContext } from '../context.js';
import { actorOf } from './auth.js';

/** A sandbox's record as the service gives it (handlers never read the database's types). */
type SandboxRow = Awaited<ReturnType<DaemonContext['sandboxes']['row']>>;

/** Routes on a sandbox answered from the control plane's own records, wherever the sandbox runs. */
const HERE: ReadonlySet<RouteName> = new Set<RouteName>(['getSandbox', 'destroySandbox', 'moveSandbox', 'publish', 'unpublish', 'createShare', 'listShares', 'placeSandbox']);
/**
 * Routes that make a sandbox of a fleet host run again: its owner's quota is
 * the control plane's to keep (the agent acts as the admin), so they go
 * through the same claim as here.
 */
const CLAIMS: ReadonlySet<RouteName> = new Set<RouteName>(['startSandbox', 'resumeSandbox']);
/**
 * Routes whose handler wakes a cold sandbox first (thermal.ready there). On a
 * fleet host the agent would wake it as the admin, past its owner's quota (the
 * GPUs it claims again): the control plane wakes it under the claim first.
 */
const WAKES: ReadonlySet<RouteName> = new Set<RouteName>([
  'exec',
  'execStream',
  'startExec',
  'logs',
  'statFile',
  'listFiles',
  'readFile',
  'writeFile',
  'getArchive',
  'putArchive',
]);
/** Headers that describe the agent's hop, not the reply. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The agent's side of a WebSocket on a sandbox of a fleet host; the route relays to it. */
    agentSocket?: WebSocket;
    /** Opens the agent's side after the upgrade, telling progress meanwhile (a parked sandbox placed first). */
    agentSocketAfter?: (onProgress: (p: Progress) => void) => Promise<WebSocket>;
    /** The record of a sandbox on this machine as the hook read it for this caller: a handler may start from it (exec does). */
    localSandbox?: SandboxRow;
  }
}

function openAgentSocket(agent: ApiClient, route: RouteName, params: Record<string, string>, query: Record<string, unknown>): Promise<WebSocket> {
  const ws = agent.websocket(route, params, query);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          const e = JSON.parse(body) as { code: ErrorCode; message: string };
          reject(new BothubError(e.code, e.message));
        } catch {
          reject(new BothubError('UNAVAILABLE', `the agent refused the connection (${res.statusCode})`));
        }
      });
    });
    ws.once('error', (e) => reject(e instanceof BothubError ? e : new BothubError('UNAVAILABLE', `the agent's WebSocket failed: ${e.message}`)));
  });
}

const routeOf = (req: FastifyRequest) => (req.routeOptions.schema as { operationId?: RouteName } | undefined)?.operationId;

/**
 * A sandbox on a fleet host is served by that host's agent: every route on it
 * (exec, files, logs, the ledger, stop/start, thermal) is passed through to
 * the agent as it came, after this daemon checked who asks. Replies that
 * describe the sandbox update the record here before they go back.
 */
export function installForwarding(app: FastifyInstance, ctx: DaemonContext): void {
  app.addHook('preHandler', async (req, reply) => {
    const route = routeOf(req);
    const name = (req.params as { name?: string } | undefined)?.name;
    if (!route || !name || !routes[route].url.startsWith('/api/v1/sandboxes/:name')) return;
    const found = await ctx.sandboxes.row(name, actorOf(req)).catch(() => undefined);
    if (!found || found.host === 'local') {
      req.localSandbox = found;
      return; // the route's own handler answers (a 404 included)
    }
    const def: RouteDef = routes[route];
    /** The agent's side, once the sandbox is on a host and hot there. */
    const wake = async (row: SandboxRow) => {
      const agent = await ctx.sandboxes.remote.agent(row.host);
      if (WAKES.has(route) && row.status === 'running' && row.thermal === 'cold')
        await ctx.sandboxes.claim(row, async () => ctx.sandboxes.follow(row.id, await agent.call('resumeSandbox', { params: { name } })));
      return agent;
    };
    const openThere = async (row: SandboxRow) => openAgentSocket(await wake(row), route, req.params as Record<string, string>, (req.query ?? {}) as Record<string, unknown>);
    if (def.stream === 'websocket' && def.socket.server === ExecServerMessage && (await ctx.rentals.isParked(found.id))) {
      // Placing a parked sandbox takes minutes: the socket opens now and tells its progress, then relays (a handshake would time out).
      req.agentSocketAfter = async (onProgress) => openThere(await ctx.rentals.beforeForward(found, route, false, onProgress));
      return;
    }
    // Control planes only (several daemons): the host's agent keeps the snapshot in its store, and the shared records list it.
    if (route === 'createSnapshot' && !ctx.sandboxes.remote.controlPlaneOnly)
      throw new BothubError(
        'INVALID_STATE',
        `snapshots are kept on this daemon's machine; "${name}" runs on host "${found.host}": move it here first (\`POST /api/v1/sandboxes/${name}/move {"to": "local"}\`)`,
      );
    // A sandbox parked by a released rented host is placed again first (a move places it within its own progress stream);
    // one that cannot checkpoint is refused a freeze or move.
    const row = await ctx.rentals.beforeForward(found, route, HERE.has(route)).catch((e: BothubError) => {
      if (e.code === 'BUSY') void reply.header('retry-after', '30'); // still being placed: the next try may find it there
      throw e;
    });
    if (HERE.has(route)) return;
    // On its way elsewhere (a move, or brought home from a rented host): its agent would wake it behind the move's back.
    if (row.status === 'moving')
      throw new BothubError('INVALID_STATE', `sandbox "${name}" is moving (${row.status_reason ?? 'to another host'}); wait for that to finish (\`GET /api/v1/sandboxes/${name}\`), then try again`);
    // Its agent takes it and keeps it; the handler records it here, so every control plane lists and restores it (host-snapshots.ts).
    if (route === 'createSnapshot') return;
    if (def.stream === 'websocket') {
      // The agent's socket opens first: a refusal there is this request's answer, before the upgrade.
      req.agentSocket = await openThere(row);
      return;
    }
    const agent = await wake(row);
    const json = (req.headers['content-type'] ?? '').startsWith('application/json');
    const forward = () =>
      agent.fetch(route, {
        params: req.params,
        query: req.query,
        ...(def.body && json ? { body: req.body } : {}),
        ...(!json && req.body instanceof Readable ? { rawBody: req.body as unknown as BodyInit } : {}),
      });
    const res = CLAIMS.has(route) ? await ctx.sandboxes.claim(row, forward) : await forward();
    reply.code(res.status);
    if (def.reply === Sandbox) {
      const followed = await ctx.sandboxes.follow(row.id, (await res.json()) as SandboxT);
      return reply.send(await ctx.sandboxes.present(followed));
    }
    res.headers.forEach((v, k) => {
      if (!HOP.has(k)) void reply.header(k, v);
    });
    if (res.status === 204 || !res.body) return reply.send();
    return reply.send(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream));
  });
}
