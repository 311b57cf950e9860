// GENERATED from src/api/dashboard-sockets.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type } from 'typebox';
import { Event, SandboxStats } from './schemas.js';
import { SocketError, type SocketDef } from './socket-def.js';

/** GET /api/v1/events/ws: each event as it is recorded; the client sends nothing. */
export const EventsSocket = {
  clientChannels: [],
  server: Type.Union([Event, SocketError]),
  serverChannels: [],
} as const satisfies SocketDef;

/** GET /api/v1/sandboxes/:name/stats/ws: one sample each interval; the client sends nothing. */
export const StatsSocket = {
  clientChannels: [],
  server: Type.Union([SandboxStats, SocketError]),
  serverChannels: [],
} as const satisfies SocketDef;
