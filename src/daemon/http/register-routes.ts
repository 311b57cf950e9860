import '@fastify/websocket';
import { Readable } from 'node:stream';
import { relay, sendIfOpen } from './ws-relay.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { ANONYMOUS, BothubError, type Actor } from '../../core/index.js';
import {
  ErrorReply,
  routes,
  type BodyOf,
  type HttpStreamRouteName,
  type JsonRouteName,
  type ParamsOf,
  type QueryOf,
  type ReplyOf,
  type RouteDef,
  type Routes,
  type SocketDef,
  type SocketRouteName,
  type UploadRouteName,
} from '../../api/index.js';
import { failSocket, serveSocket, type SocketHandler, type SocketRequest } from './socket-route.js';
import { clientMessageReader } from './socket-messages.js';

export interface JsonRequest<K extends JsonRouteName> {
  /** Who asks; the daemon itself for public routes. */
  actor: Actor;
  params: ParamsOf<K>;
  query: QueryOf<K>;
  body: BodyOf<K>;
  raw: FastifyRequest;
  /** For the few routes that set headers or cookies beside their body (sign-in). */
  reply: FastifyReply;
}

/** An upload's body is the request stream itself; other streams take a JSON body (or none). */
type StreamBodyOf<K extends HttpStreamRouteName> = K extends UploadRouteName ? Readable : BodyOf<K>;

export interface StreamRequest<K extends HttpStreamRouteName> {
  actor: Actor;
  params: ParamsOf<K>;
  query: QueryOf<K>;
  body: StreamBodyOf<K>;
  raw: FastifyRequest;
}

type JsonHandler<K extends JsonRouteName> = (req: JsonRequest<K>) => Promise<ReplyOf<K>>;
/** A route that streams over HTTP: typed like a JSON route; it writes its own reply. */
export type StreamHandler<K extends HttpStreamRouteName> = (req: StreamRequest<K>, reply: FastifyReply) => Promise<void>;

/** One handler per route of the table, typed by its schemas: a route cannot lack one. */
export type Handlers = { [K in JsonRouteName]: JsonHandler<K> } & { [K in HttpStreamRouteName]: StreamHandler<K> } & { [K in SocketRouteName]: SocketHandler<K> };

/** The parts every route's handler gets, validated by the route's schemas before it runs. */
const typedParts = (req: FastifyRequest) => ({ actor: req.actor ?? ANONYMOUS, params: req.params, query: req.query, raw: req });

function uploadBody(req: FastifyRequest): Readable {
  if (!(req.body instanceof Readable)) throw new BothubError('INVALID_INPUT', 'send the content as the request body, with content-type application/octet-stream');
  return req.body;
}

/** A socket on a fleet host's sandbox: the agent checks messages too, but a bad one is refused here, at the edge. */
function relayChecked(ws: WebSocket, agent: WebSocket, def: SocketDef, req: FastifyRequest): void {
  const read = clientMessageReader(def);
  let refused = false;
  relay(ws, agent, (data, isBinary) => {
    if (refused) return false;
    try {
      read(data, isBinary);
      return true;
    } catch (e) {
      refused = true;
      failSocket(ws, e, req);
      return false;
    }
  });
}

/**
 * A socket whose far side opens only after minutes of work (a parked sandbox
 * placed first): progress messages meanwhile, what the client sends is held
 * and passed on once the agent's socket is open.
 */
function relayWhenOpen(ws: WebSocket, open: NonNullable<FastifyRequest['agentSocketAfter']>, def: SocketDef, req: FastifyRequest): void {
  const held: [Buffer, boolean][] = [];
  const hold = (d: Buffer, isBinary: boolean) => held.push([d, isBinary]);
  ws.on('message', hold);
  open((p) => sendIfOpen(ws, JSON.stringify({ type: 'progress', ...p }), false)).then(
    (agent) => {
      ws.off('message', hold);
      if (ws.readyState !== ws.OPEN) {
        agent.close(1000); // the client went away meanwhile; the sandbox is placed for the next request
        return;
      }
      relayChecked(ws, agent, def, req);
      for (const [d, isBinary] of held) ws.emit('message', d, isBinary);
    },
    (e: unknown) => failSocket(ws, e, req),
  );
}

export interface RouteOptions {
  /** Runs for every socket once it is open (the dashboard ties a cookie socket to its session). */
  onSocket?: (ws: WebSocket, req: FastifyRequest) => void;
}

export function registerRoutes(app: FastifyInstance, handlers: Handlers, options: RouteOptions = {}): void {
  for (const [key, route] of Object.entries(routes) as [keyof Routes, RouteDef][]) {
    const schema = {
      summary: route.summary,
      operationId: key,
      tags: [route.url.split('/')[3] ?? 'system'],
      ...(route.auth === 'none' ? {} : { security: [{ bearer: [] }] }),
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { querystring: route.query } : {}),
      ...(route.body ? { body: route.body } : {}),
      // The socket's messages, both ways, in the OpenAPI document (an extension: OpenAPI has no words for WebSocket messages).
      ...(route.stream === 'websocket' ? { 'x-websocket': route.socket } : {}),
      response: {
        ...(route.reply ? { [route.status ?? 200]: route.reply } : route.status ? { [route.status]: { type: 'null', description: 'No content' } } : {}),
        '4xx': ErrorReply,
        '5xx': ErrorReply,
      },
    };
    const handler = handlers[key] as unknown;
    const config = { auth: route.auth ?? 'user' };
    if (route.stream === 'websocket') {
      const socket = handler as SocketHandler<SocketRouteName>;
      const def = route.socket;
      const socketRequest = (req: FastifyRequest) => ({ ...typedParts(req), id: req.id, log: req.log }) as SocketRequest<SocketRouteName>;
      app.route({
        method: 'GET',
        url: route.url,
        schema,
        config,
        // A sandbox on a fleet host: the forwarding hook opened the agent's socket, and frames are relayed to it.
        preHandler: async (req) => (req.agentSocket || req.agentSocketAfter ? undefined : socket.precheck(socketRequest(req))),
        handler: async (_req, reply) =>
          reply.code(426).send({ statusCode: 426, code: 'INVALID_INPUT', error: 'Upgrade Required', message: 'this route is a WebSocket; connect with a WebSocket client' }),
        wsHandler: (ws: WebSocket, req: FastifyRequest) => {
          if (req.agentSocket) relayChecked(ws, req.agentSocket, def, req);
          else if (req.agentSocketAfter) relayWhenOpen(ws, req.agentSocketAfter, def, req);
          else serveSocket(ws, def, socket, socketRequest(req));
          options.onSocket?.(ws, req);
        },
      });
    } else if (route.stream) {
      const stream = handler as StreamHandler<HttpStreamRouteName>;
      const upload = route.stream === 'upload';
      app.route({
        method: route.method,
        url: route.url,
        schema,
        config,
        handler: async (req, reply) => stream({ ...typedParts(req), body: upload ? uploadBody(req) : req.body } as StreamRequest<HttpStreamRouteName>, reply),
      });
    } else {
      const json = handler as (req: JsonRequest<JsonRouteName>) => Promise<unknown>;
      app.route({
        method: route.method,
        url: route.url,
        schema,
        config,
        handler: async (req, reply) => {
          const result = await json({ ...typedParts(req), body: req.body, reply } as JsonRequest<JsonRouteName>);
          reply.code(route.status ?? 200);
          return route.status === 204 ? reply.send() : result;
        },
      });
    }
  }
}
