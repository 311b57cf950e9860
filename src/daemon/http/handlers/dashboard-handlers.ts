import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../../core/index.js';
import type { DaemonContext } from '../../context.js';
import type { StatsService } from '../../services/stats-service.js';
import type { Handlers } from '../register-routes.js';

type DashboardRoutes = 'eventsStream' | 'sandboxStats' | 'sandboxStatsStream';

const DEFAULT_INTERVAL_MS = 1000;

/** Live views for the dashboard: the event stream and resource use of a sandbox. */
export function dashboardHandlers(ctx: DaemonContext, stats: StatsService): Pick<Handlers, DashboardRoutes> {
  /** Where each events socket starts, fixed before the upgrade is answered: an event recorded once the client sees the socket open is never missed. */
  const startAt = new WeakMap<FastifyRequest, number>();
  const sample = async (name: string, actor: Actor) => stats.sample(await ctx.sandboxes.row(name, actor));

  return {
    eventsStream: {
      precheck: async ({ query, raw }) => {
        startAt.set(raw, query.after ?? (await ctx.events.lastId()));
      },
      // The client sends nothing (the route's socket declares no client message): anything it sends ends the socket with 1008.
      open: (socket, { actor, query, raw }) => {
        const stop = ctx.events.follow({ actor, sandbox: query.sandbox }, startAt.get(raw) ?? 0, (e) => socket.send(e), (err) => socket.fail(err));
        socket.onClose(stop);
        return {};
      },
    },
    sandboxStats: async ({ actor, params }) => sample(params.name, actor),
    sandboxStatsStream: {
      precheck: async ({ actor, params }) => {
        await ctx.sandboxes.row(params.name, actor);
      },
      open: (socket, { actor, params, query }) => {
        let timer: NodeJS.Timeout | undefined;
        let open = true;
        socket.onClose(() => {
          open = false;
          clearTimeout(timer);
        });
        // Each sample is scheduled when the previous one was sent: a slow read never piles up.
        const tick = async () => {
          try {
            const s = await sample(params.name, actor);
            if (!open) return;
            socket.send(s);
            timer = setTimeout(() => void tick(), query.interval ?? DEFAULT_INTERVAL_MS);
          } catch (e) {
            socket.fail(e);
          }
        };
        void tick();
        return {};
      },
    },
  };
}
