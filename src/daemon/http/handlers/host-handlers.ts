import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';

type HostRoutes = 'listHosts' | 'addHost' | 'getHost' | 'checkHost' | 'removeHost' | 'snapshotHosts';

export function hostHandlers(ctx: DaemonContext): Pick<Handlers, HostRoutes> {
  return {
    listHosts: () => ctx.hosts.list(),
    addHost: ({ body }) => ctx.hosts.add(body),
    getHost: ({ params }) => ctx.hosts.get(params.name),
    checkHost: ({ params }) => ctx.hosts.check(params.name),
    removeHost: ({ params }) => ctx.hosts.remove(params.name),
    snapshotHosts: async ({ actor, params }) => {
      const row = await ctx.snapshots.readyRow(params.name, actor);
      const manifest = await ctx.snapshots.manifest(row);
      return ctx.hosts.verdicts(manifest.host, { gpu: manifest.gpu });
    },
  };
}
