import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';

type RegistryRoutes = 'listRegistries' | 'registryLogin' | 'registryLogout';

export function registryHandlers(ctx: DaemonContext): Pick<Handlers, RegistryRoutes> {
  return {
    listRegistries: ({ actor }) => ctx.registries.list(actor),
    registryLogin: ({ actor, params, body }) => ctx.registries.login(actor, params.host, body.username, body.password),
    registryLogout: ({ actor, params }) => ctx.registries.logout(actor, params.host),
  };
}
