import { Type } from 'typebox';
import * as S from '../schemas.js';
import { EventsSocket, StatsSocket } from '../dashboard-sockets.js';
import { type RouteDef } from './route-def.js';

/** State changes and resource use of sandboxes, listed or streamed. */
export const eventRoutes = {
  eventsStream: {
    method: 'GET',
    url: '/api/v1/events/ws',
    summary: 'WebSocket: every new event you may see, as JSON text messages (the Event schema), in order with no gaps; ?after=ID sends the backlog first.',
    query: S.EventsStreamQuery,
    stream: 'websocket',
    socket: EventsSocket,
  },
  listEvents: { method: 'GET', url: '/api/v1/events', summary: 'State changes of sandboxes, oldest first; ?sandbox= for one.', query: S.EventsQuery, reply: Type.Array(S.Event) },
  sandboxStats: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/stats',
    summary: "CPU, memory and processes from the sandbox's cgroup; zeros (with its state) when it has no processes (stopped, cold).",
    params: S.NameParams,
    reply: S.SandboxStats,
  },
  sandboxStatsStream: {
    method: 'GET',
    url: '/api/v1/sandboxes/:name/stats/ws',
    summary: 'WebSocket: a SandboxStats JSON message every ?interval ms (default 1000, at least 250).',
    params: S.NameParams,
    query: S.StatsStreamQuery,
    stream: 'websocket',
    socket: StatsSocket,
  },
} as const satisfies Record<string, RouteDef>;
