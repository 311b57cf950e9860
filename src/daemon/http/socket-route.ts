import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import WebSocket from 'ws';
import { closeWith, sendIfOpen } from './ws-relay.js';
import {
  SocketClose,
  type ClientMessageOf,
  type ParamsOf,
  type QueryOf,
  type ServerMessageOf,
  type SocketDef,
  type SocketErrorT,
  type SocketRouteName,
  type SocketStartOf,
} from '../../api/index.js';
import { BothubError, type Actor } from '../../core/index.js';
import { logErrorReply, toErrorBody } from './errors.js';
import { clientMessageReader, type ClientMessage } from './socket-messages.js';
import { jsonValidator } from './validation.js';

export interface SocketRequest<K extends SocketRouteName> {
  actor: Actor;
  params: ParamsOf<K>;
  query: QueryOf<K>;
  /** The request's id, for the log and error replies. */
  id: string;
  /** The upgrade request itself: the same object in `precheck` and `open`. */
  raw: FastifyRequest;
  log: FastifyBaseLogger;
}

/** The daemon's side of one socket: typed sends that never throw, and one way to end with an error. */
export interface SocketSession<K extends SocketRouteName> {
  /** Sends a server message; nothing once the socket is closing. */
  send(msg: ServerMessageOf<K>): void;
  /** Sends bytes on a channel (a tag byte, then the bytes). */
  frame(channel: number, data: Buffer): void;
  /** Ends with an `error` message and close 1008 for a refusal (4xx), 1013 when too busy, 1011 for another failure of ours (5xx). */
  fail(err: unknown): void;
  close(code?: number): void;
  /** Runs `fn` once the socket is closed (at once if it is already). */
  onClose(fn: () => void): void;
}

/** What a handler does with the client's messages; each arrives validated and typed, one at a time, in order. */
export interface SocketListeners<K extends SocketRouteName> {
  start?(msg: SocketStartOf<K>): void | Promise<void>;
  message?(msg: ClientMessageOf<K>): void | Promise<void>;
  frame?(channel: number, data: Buffer): void | Promise<void>;
}

/** A WebSocket route: `precheck` runs before the upgrade, so a missing sandbox is a plain 404. */
export interface SocketHandler<K extends SocketRouteName> {
  precheck(req: SocketRequest<K>): Promise<void>;
  /** The socket is open: set up, and say what to do with the client's messages (which wait until this resolves). */
  open(session: SocketSession<K>, req: SocketRequest<K>): SocketListeners<K> | Promise<SocketListeners<K>>;
}

/** The most a client may have sent that the handler has not taken yet (four times the WebSocket message limit). */
const MAX_WAITING_BYTES = 64 * 1024 * 1024;

/** Ends a socket with an `error` message (the API's error shape), then close 1008 for a refusal (4xx), 1013 when too busy (BUSY: try again later), or 1011 for another failure of ours (5xx). */
export function failSocket(ws: WebSocket, err: unknown, req: { id: string; log: FastifyBaseLogger }): void {
  const body = toErrorBody(err, req.id);
  logErrorReply(req.log, err, body, 'socket refused');
  const msg: SocketErrorT = { type: 'error', ...body };
  sendIfOpen(ws, JSON.stringify(msg), false);
  closeWith(ws, body.code === 'BUSY' ? SocketClose.TryAgainLater : body.statusCode >= 500 ? SocketClose.InternalError : SocketClose.PolicyViolation, body.code);
}

/** The session over one socket; server messages are checked against the route's schema too (a mismatch is our bug: logged, and the socket fails). */
function session<K extends SocketRouteName>(ws: WebSocket, def: SocketDef, req: SocketRequest<K>): SocketSession<K> {
  const checkServer = jsonValidator(def.server);
  const s: SocketSession<K> = {
    send: (msg) => {
      if (!checkServer(msg)) {
        req.log.error({ msg, errors: checkServer.errors }, 'a server message does not match its schema');
        return closeWith(ws, SocketClose.InternalError, 'internal error');
      }
      sendIfOpen(ws, JSON.stringify(msg), false);
    },
    frame: (channel, data) => sendIfOpen(ws, Buffer.concat([Buffer.from([channel]), data]), true),
    fail: (err) => failSocket(ws, err, req),
    close: (code = SocketClose.Normal) => closeWith(ws, code),
    onClose: (fn) => {
      if (ws.readyState === WebSocket.CLOSED) fn();
      else ws.once('close', fn);
    },
  };
  return s;
}

function deliver<K extends SocketRouteName>(listeners: SocketListeners<K>, msg: ClientMessage): void | Promise<void> {
  if (msg.kind === 'start') return listeners.start?.(msg.value as SocketStartOf<K>);
  if (msg.kind === 'message') return listeners.message?.(msg.value as ClientMessageOf<K>);
  return listeners.frame?.(msg.channel, msg.data);
}

/**
 * Serves one socket of a route: every client message is validated before the
 * handler sees it, and every error a handler throws or rejects with (at open,
 * or on any message) ends this socket with an `error` message instead of
 * escaping into the event loop, where it would take the daemon down.
 */
export function serveSocket<K extends SocketRouteName>(ws: WebSocket, def: SocketDef, handler: SocketHandler<K>, req: SocketRequest<K>): void {
  const s = session(ws, def, req);
  const read = clientMessageReader(def);
  let failed = false;
  const fail = (e: unknown) => {
    if (failed) return;
    failed = true;
    s.fail(e);
  };
  // Messages wait for open, then for each other: a handler's async start finishes before the stdin after it.
  let queue: Promise<SocketListeners<K> | undefined> = Promise.resolve()
    .then(() => handler.open(s, req))
    .catch((e: unknown) => {
      fail(e);
      return undefined;
    });
  let waiting = 0;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (failed) return;
    let msg: ClientMessage;
    try {
      msg = read(data, isBinary);
    } catch (e) {
      return fail(e);
    }
    // What waits for a slow start is held in memory: a client may not pile up without bound.
    waiting += data.length;
    if (waiting > MAX_WAITING_BYTES)
      return fail(new BothubError('LIMIT_EXCEEDED', `more than ${MAX_WAITING_BYTES} bytes sent before the daemon took the first ones; wait for the \`started\` message`));
    queue = queue.then(async (listeners) => {
      waiting -= data.length;
      if (!listeners || failed) return listeners;
      try {
        await deliver(listeners, msg);
      } catch (e) {
        fail(e);
      }
      return listeners;
    });
  });
}
