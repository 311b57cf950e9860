import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { BothubError } from '../../core/index.js';
import type { WebSessions } from '../services/web-sessions.js';
import { failSocket } from './socket-route.js';

/** How often a long-lived socket opened with the session cookie checks that its session still holds (a rotated key, a removed user). */
const RECHECK_MS = 60_000;

/**
 * A socket opened with the dashboard's session (any route: exec, attach,
 * events, stats) lives no longer than the session: sign-out closes it at once, a rotated key or a removed user within
 * a minute. Bearer sockets are left alone (their key was checked at the upgrade,
 * as for every other route).
 */
export function closeWithSession(socket: WebSocket, req: FastifyRequest, sessions: WebSessions): void {
  const session = req.webSession;
  if (!session) return;
  const end = () => {
    stop();
    failSocket(socket, new BothubError('UNAUTHORIZED', 'your dashboard session has ended; sign in again'), req);
  };
  const unsubscribe = sessions.onSignOut(session.id, end);
  const timer = setInterval(() => {
    // A database that cannot answer now says nothing about the session: the next check decides.
    sessions.find(session.id).then(
      (s) => (s ? undefined : end()),
      (err: unknown) => req.log.warn({ err }, 'could not check a dashboard session; checked again later'),
    );
  }, RECHECK_MS).unref();
  const stop = () => {
    unsubscribe();
    clearInterval(timer);
  };
  socket.once('close', stop);
}
