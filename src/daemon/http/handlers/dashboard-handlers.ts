import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { SocketErrorT } from '../../../api/index.js';
import type { DaemonContext } from '../../context.js';
import type { StatsService } from '../../services/stats-service.js';
import { actorOf } from '../auth.js';
import { errorBody, toErrorBody } from '../errors.js';
import type { Handlers } from '../register-routes.js';

type DashboardRoutes = 'eventsStream' | 'sandboxStats' | 'sandboxStatsStream';

const DEFAULT_INTERVAL_MS = 1000;

/** Ends a socket on any failure: the error as the last message (the SocketError schema), then close 1011. */
export function closeWithError(socket: WebSocket, err: unknown, requestId: string): void {
  const message: SocketErrorT = { type: 'error', ...toErrorBody(err, requestId) };
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  socket.close(1011, message.code);
}

/** Live views for the dashboard: the event stream and resource use of a sandbox. */
export function dashboardHandlers(ctx: DaemonContext, stats: StatsService): Pick<Handlers, DashboardRoutes> {
  /** Where each events socket starts, fixed before the upgrade is answered: an event recorded once the client sees the socket open is never missed. */
  const startAt = new WeakMap<FastifyRequest, number>();
  const sample = async (req: FastifyRequest) => stats.sample(await ctx.sandboxes.row((req.params as { name: string }).name, actorOf(req)));

  return {
    eventsStream: {
      precheck: async (req) => {
        const { after } = req.query as { after?: number };
        startAt.set(req, after ?? (await ctx.events.lastId()));
      },
      handle: (socket, req) => {
        const { sandbox } = req.query as { sandbox?: string };
        try {
          const stop = ctx.events.follow(
            { actor: actorOf(req), sandbox },
            startAt.get(req) ?? 0,
            (e) => socket.send(JSON.stringify(e)),
            (err) => closeWithError(socket, err, req.id),
          );
          socket.on('close', stop);
          socket.on('error', stop);
          // Nothing is read from the client; a message is a misuse, answered like any bad message.
          socket.on('message', () => {
            stop();
            const message: SocketErrorT = { type: 'error', ...errorBody('INVALID_INPUT', 'this socket only sends events; send it nothing') };
            socket.send(JSON.stringify(message));
            socket.close(1008, 'INVALID_INPUT');
          });
        } catch (e) {
          closeWithError(socket, e, req.id);
        }
      },
    },
    sandboxStats: async ({ raw }) => sample(raw),
    sandboxStatsStream: {
      precheck: async (req) => {
        await sample(req);
      },
      handle: (socket, req) => {
        const { interval } = req.query as { interval?: number };
        let timer: NodeJS.Timeout | undefined;
        let open = true;
        const stop = () => {
          open = false;
          clearTimeout(timer);
        };
        // Each sample is scheduled when the previous one was sent: a slow read never piles up.
        const tick = async () => {
          try {
            const s = await sample(req);
            if (!open) return;
            socket.send(JSON.stringify(s));
            timer = setTimeout(() => void tick(), interval ?? DEFAULT_INTERVAL_MS);
          } catch (e) {
            stop();
            closeWithError(socket, e, req.id);
          }
        };
        socket.on('close', stop);
        socket.on('error', stop);
        void tick();
      },
    },
  };
}
