import { BothubError } from '../../../core/index.js';
import type { Handlers } from '../register-routes.js';
import { RentService } from '../../rent/rent-service.js';
import type { DaemonContext } from '../../context.js';

type SandboxRoutes = 'listSandboxes' | 'createSandbox' | 'getSandbox' | 'stopSandbox' | 'startSandbox' | 'destroySandbox';

/**
 * A create runs to its end even if the client goes away: the sandbox then
 * shows up in `bothub list`, which beats one torn down halfway.
 */
export function sandboxHandlers(ctx: DaemonContext): Pick<Handlers, SandboxRoutes> {
  return {
    listSandboxes: ({ actor }) => ctx.sandboxes.list(actor),
    createSandbox: async ({ actor, body }) => {
      if (body.host === 'local' && ctx.sandboxes.remote.controlPlaneOnly)
        throw new BothubError('INVALID_INPUT', 'this daemon is a control plane only (BOTHUB_CONTROL_PLANE_ONLY): name a fleet host in `host`, or leave it out to let the daemon choose');
      // A rented host's price counts against its owner's hourly limit.
      if (body.host) await ctx.rentService.admit(body.host, RentService.ownerOf(actor));
      return ctx.sandboxes.create(body, actor);
    },
    getSandbox: ({ actor, params }) => ctx.sandboxes.get(params.name, actor),
    stopSandbox: ({ actor, params }) => ctx.sandboxes.stop(params.name, actor),
    startSandbox: ({ actor, params }) => ctx.sandboxes.start(params.name, actor),
    destroySandbox: ({ actor, params }) => ctx.sandboxes.destroy(params.name, actor),
  };
}
