import type { Handlers } from '../register-routes.js';
import type { DaemonContext } from '../../context.js';

type SandboxRoutes = 'listSandboxes' | 'createSandbox' | 'getSandbox' | 'stopSandbox' | 'startSandbox' | 'destroySandbox';

/**
 * A create runs to its end even if the client goes away: the sandbox then
 * shows up in `bothub list`, which beats one torn down halfway.
 */
export function sandboxHandlers(ctx: DaemonContext): Pick<Handlers, SandboxRoutes> {
  return {
    listSandboxes: () => ctx.sandboxes.list(),
    createSandbox: ({ body }) => ctx.sandboxes.create(body),
    getSandbox: ({ params }) => ctx.sandboxes.get(params.name),
    stopSandbox: ({ params }) => ctx.sandboxes.stop(params.name),
    startSandbox: ({ params }) => ctx.sandboxes.start(params.name),
    destroySandbox: ({ params }) => ctx.sandboxes.destroy(params.name),
  };
}
