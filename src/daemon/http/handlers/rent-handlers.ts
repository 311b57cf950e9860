import { BothubError } from '../../../core/index.js';
import type { DaemonContext } from '../../context.js';
import { NAME_AN_OFFER, RentService } from '../../rent/rent-service.js';
import { streamOperation } from '../ndjson.js';
import type { Handlers } from '../register-routes.js';

type RentRoutes = 'listProviders' | 'addProvider' | 'removeProvider' | 'reconcileProviders' | 'listOffers' | 'rentHost' | 'listRentals' | 'releaseHost' | 'getCost' | 'setPriceLimit' | 'placeSandbox';

export function rentHandlers(ctx: DaemonContext): Pick<Handlers, RentRoutes> {
  return {
    listProviders: () => ctx.providerKeys.list(),
    addProvider: ({ params, body }) => ctx.providerKeys.add(params.provider, body.key, body.baseUrl),
    removeProvider: ({ params }) => ctx.providerKeys.remove(params.provider),
    reconcileProviders: () => ctx.rentals.reconcile(),
    listOffers: ({ query }) => ctx.rentService.offers(query),
    rentHost: async ({ actor, body }, reply) => {
      if (!body.offer && !body.gpu) throw new BothubError('INVALID_INPUT', NAME_AN_OFFER);
      await streamOperation(reply, (onProgress, signal) => ctx.rentals.rent({ ...body, ownerId: RentService.ownerOf(actor) }, { onProgress, signal }));
    },
    listRentals: () => ctx.rentService.list(),
    releaseHost: async ({ params }, reply) => {
      // Checked before the stream starts, so a host that is not rented is a plain 404.
      if (!(await ctx.rentService.ofHost(params.name))) throw new BothubError('NOT_FOUND', `no rented host named "${params.name}" is in use; see \`GET /api/v1/rentals\``);
      await streamOperation(reply, (onProgress, signal) => ctx.rentals.release(params.name, 'released by hand', { onProgress, signal }));
    },
    placeSandbox: async ({ actor, params }, reply) => {
      // Looked up before the stream starts, so a sandbox that is not there (or not the caller's) is a plain 404.
      const row = await ctx.sandboxes.row(params.name, actor);
      await streamOperation(reply, async (onProgress) => ctx.sandboxes.present(await ctx.rentals.place(row, onProgress)));
    },
    getCost: ({ query }) => ctx.meter.report(query.since),
    setPriceLimit: ({ params, body }) => ctx.rentService.setPriceLimit(params.name, body.maxUsdPerHour),
  };
}
