import type { DaemonContext } from '../../context.js';
import { streamOperation } from '../ndjson.js';
import type { Handlers } from '../register-routes.js';

type FleetRoutes = 'moveSandbox' | 'importSandbox';

export function fleetHandlers(ctx: DaemonContext): Pick<Handlers, FleetRoutes> {
  return {
    moveSandbox: async ({ actor, params: { name }, body: { to } }, reply) => {
      // Checked before the stream starts, so a missing sandbox or host is a plain 404.
      const [row] = await Promise.all([ctx.sandboxes.row(name, actor), ctx.hosts.get(to)]);
      // A rented host's price counts against the sandbox owner's hourly limit, as at create.
      await ctx.rentService.admit(to, row.owner_id);
      await streamOperation(reply, async (onProgress, signal) => {
        // One parked by its released rented host is placed on a host first, its progress in this same stream.
        if (await ctx.rentals.isParked(row.id)) await ctx.rentals.place(row, onProgress);
        return ctx.moves.move(name, to, actor, { onProgress, signal });
      });
    },
    importSandbox: ({ actor, body }) => ctx.imports.adopt(body, actor),
  };
}
