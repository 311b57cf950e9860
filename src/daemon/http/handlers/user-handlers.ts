import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';

type UserRoutes = 'whoami' | 'listUsers' | 'createUser' | 'rotateUserKey' | 'setUserQuota' | 'removeUser' | 'listSecrets' | 'setSecret' | 'removeSecret';

export function userHandlers(ctx: DaemonContext): Pick<Handlers, UserRoutes> {
  return {
    whoami: async ({ actor }) => ({ name: actor.name, admin: actor.admin }),
    listUsers: () => ctx.users.list(),
    createUser: ({ body }) => ctx.users.create(body),
    rotateUserKey: ({ params }) => ctx.users.rotateKey(params.name),
    setUserQuota: ({ params, body }) => ctx.users.setQuota(params.name, body),
    removeUser: ({ params, query }) => ctx.removeUser(params.name, !!query.force),
    listSecrets: ({ actor }) => ctx.secrets.list(actor),
    setSecret: ({ actor, params, body }) => ctx.secrets.set(actor, params.name, body.value),
    removeSecret: ({ actor, params }) => ctx.secrets.remove(actor, params.name),
  };
}
