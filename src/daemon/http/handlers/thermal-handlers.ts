import { BothubError, type Actor } from '../../../core/index.js';
import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';

type ThermalRoutes = 'pauseSandbox' | 'resumeSandbox' | 'freezeSandbox' | 'listEvents' | 'publish' | 'unpublish' | 'createShare' | 'listShares' | 'revokeShare';

export function thermalHandlers(ctx: DaemonContext): Pick<Handlers, ThermalRoutes> {
  const running = async (name: string, actor: Actor) => {
    const { row } = await ctx.sandboxes.require(name, 'exec', actor);
    return row;
  };
  return {
    pauseSandbox: async ({ actor, params }) => {
      const row = await running(params.name, actor);
      if (row.thermal === 'cold') throw new BothubError('INVALID_STATE', `sandbox "${params.name}" is cold already; resume it (\`POST /api/v1/sandboxes/${params.name}/resume\`)`);
      return ctx.sandboxes.present(await ctx.thermal.pause(row, 'paused by hand'));
    },
    resumeSandbox: async ({ actor, params }) => ctx.sandboxes.present(await ctx.thermal.resume(await running(params.name, actor))),
    freezeSandbox: async ({ actor, params }) => ctx.sandboxes.present(await ctx.thermal.freeze(await running(params.name, actor), 'frozen by hand')),
    listEvents: ({ actor, query }) => ctx.events.list(actor, query.sandbox, query.limit),
    publish: async ({ actor, params, body }) => {
      const { row } = await ctx.thermal.ready(params.name, 'exec', actor);
      await ctx.publish.publish(row, body.port, !!body.public);
      return ctx.sandboxes.get(params.name, actor);
    },
    createShare: async ({ actor, params, body }) => {
      const { row } = await ctx.sandboxes.require(params.name, 'logs', actor);
      const { share, token } = await ctx.shares.create(row, body.port, body.ttlSeconds ?? 3600);
      const u = (await ctx.publish.urlsOf(row)).find((x) => x.port === body.port)!;
      const q = `?bh_share=${encodeURIComponent(token)}`;
      return { share: { id: share.id, port: share.port, expiresAt: share.expires_at, revoked: false }, url: u.url + q, pathUrl: u.pathUrl + q };
    },
    listShares: async ({ actor, params }) => ctx.shares.list((await ctx.sandboxes.require(params.name, 'logs', actor)).row),
    revokeShare: ({ actor, params }) => ctx.shares.revoke(params.id, actor),
    unpublish: async ({ actor, params }) => {
      const { row } = await ctx.sandboxes.require(params.name, 'logs', actor);
      await ctx.publish.unpublish(row, params.port);
      return ctx.sandboxes.get(params.name, actor);
    },
  };
}
