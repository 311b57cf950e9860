import type { FastifyRequest } from 'fastify';
import { BothubError } from '../../../core/index.js';
import type { DaemonContext } from '../../context.js';
import type { StatsService } from '../../services/stats-service.js';
import type { WebSessions } from '../../services/web-sessions.js';
import { closeWithSession } from '../session-sockets.js';
import { closeWithError } from '../socket-errors.js';
import { actorOf } from '../auth.js';
import type { Handlers } from '../register-routes.js';

type DashboardRoutes = 'eventsStream' | 'sandboxStats' | 'sandboxStatsStream';

const DEFAULT_INTERVAL_MS = 1000;

/** Live views for the dashboard: the event stream and resource use of a sandbox. */
export function dashboardHandlers(ctx: DaemonContext, stats: StatsService, sessions: WebSessions): Pick<Handlers, DashboardRoutes> {
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
          closeWithSession(socket, req, sessions);
          // Nothing is read from the client; a message is a misuse, answered like any bad message.
          socket.on('message', () => {
            stop();
            closeWithError(socket, new BothubError('INVALID_INPUT', 'this socket only sends events; send it nothing'), req.id);
          });
        } catch (e) {
          closeWithError(socket, e, req.id);
        }
      },
    },
    sandboxStats: async ({ raw }) => sample(raw),
    sandboxStatsStream: {
      precheck: async (req) => {
        await ctx.sandboxes.row((req.params as { name: string }).name, actorOf(req));
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
        closeWithSession(socket, req, sessions);
        void tick();
      },
    },
  };
}
