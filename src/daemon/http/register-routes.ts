import '@fastify/websocket';
import { relay } from './ws-relay.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { ANONYMOUS, type Actor } from '../../core/index.js';
import {
  ErrorReply,
  routes,
  type BodyOf,
  type JsonRouteName,
  type ParamsOf,
  type QueryOf,
  type ReplyOf,
  type RouteDef,
  type Routes,
  type StreamRouteName,
} from '../../api/index.js';

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

type JsonHandler<K extends JsonRouteName> = (req: JsonRequest<K>) => Promise<ReplyOf<K>>;
export type StreamHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
/** A WebSocket route: `precheck` runs before the upgrade, so a missing sandbox is a plain 404. */
export interface SocketHandler {
  precheck: (req: FastifyRequest) => Promise<void>;
  handle: (socket: WebSocket, req: FastifyRequest) => void;
}

/** One handler per route of the table, typed by its schemas: a route cannot lack one. */
export type Handlers = { [K in JsonRouteName]: JsonHandler<K> } & {
  [K in StreamRouteName]: Routes[K] extends { stream: 'websocket' } ? SocketHandler : StreamHandler;
};

export function registerRoutes(app: FastifyInstance, handlers: Handlers): void {
  for (const [key, route] of Object.entries(routes) as [keyof Routes, RouteDef][]) {
    const schema = {
      summary: route.summary,
      operationId: key,
      tags: [route.url.split('/')[3] ?? 'system'],
      ...(route.auth === 'none' ? {} : { security: [{ bearer: [] }] }),
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { querystring: route.query } : {}),
      ...(route.body ? { body: route.body } : {}),
      response: {
        ...(route.reply ? { [route.status ?? 200]: route.reply } : route.status ? { [route.status]: { type: 'null', description: 'No content' } } : {}),
        '4xx': ErrorReply,
        '5xx': ErrorReply,
      },
    };
    const handler = handlers[key] as unknown;
    const config = { auth: route.auth ?? 'user' };
    if (route.stream === 'websocket') {
      const socket = handler as SocketHandler;
      app.route({
        method: 'GET',
        url: route.url,
        schema,
        config,
        // A sandbox on a fleet host: the forwarding hook opened the agent's socket, and frames are relayed to it.
        preHandler: async (req) => (req.agentSocket ? undefined : socket.precheck(req)),
        handler: async (_req, reply) =>
          reply.code(426).send({ statusCode: 426, code: 'INVALID_INPUT', error: 'Upgrade Required', message: 'this route is a WebSocket; connect with a WebSocket client' }),
        wsHandler: (ws: WebSocket, req: FastifyRequest) => (req.agentSocket ? relay(ws, req.agentSocket) : socket.handle(ws, req)),
      });
    } else if (route.stream) {
      app.route({ method: route.method, url: route.url, schema, config, handler: handler as StreamHandler });
    } else {
      const json = handler as (req: JsonRequest<JsonRouteName>) => Promise<unknown>;
      app.route({
        method: route.method,
        url: route.url,
        schema,
        config,
        handler: async (req, reply) => {
          const result = await json({ actor: req.actor ?? ANONYMOUS, params: req.params, query: req.query, body: req.body, raw: req, reply } as JsonRequest<JsonRouteName>);
          reply.code(route.status ?? 200);
          return route.status === 204 ? reply.send() : result;
        },
      });
    }
  }
}
