import type { TSchema } from 'typebox';
import type { SocketDef } from '../socket-def.js';

/** What a route is: the shape of every entry of the route table (routes.ts). */
interface RouteBase {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  summary: string;
  params?: TSchema;
  query?: TSchema;
  body?: TSchema;
  /** JSON reply schema; absent for routes that stream (see `stream`). */
  reply?: TSchema;
  status?: number;
  /** Who may call it: anyone, any user with a key (the default), or the admin only. */
  auth?: 'none' | 'user' | 'admin';
  /** A client's default time limit for this route when it is longer than the usual one (the first create builds the image). */
  timeoutMs?: number;
}

/** For routes that may checkpoint, restore, build an image or install an agent: minutes, not seconds. */
export const LONG_MS = 30 * 60_000;
/**
 * A route answered with JSON, or streamed: raw bytes, NDJSON progress, or an
 * upload (the request body is the stream). A WebSocket route also says what
 * its messages are, both ways (`socket`).
 */
export type RouteDef = RouteBase & ({ stream?: 'bytes' | 'ndjson' | 'upload'; socket?: never } | { stream: 'websocket'; socket: SocketDef });
