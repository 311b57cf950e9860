import { BothubError } from '../../../core/index.js';
import type { DaemonContext } from '../../context.js';
import { WebSessions } from '../../services/web-sessions.js';
import { failedAttempt, SESSION_COOKIE, rateLimited, type FailureLimiter } from '../auth.js';
import type { Handlers } from '../register-routes.js';

type SessionRoutes = 'createSession' | 'getSession' | 'deleteSession';

/**
 * The dashboard's sign-in: an API key is exchanged once for a session cookie
 * that scripts cannot read (HttpOnly) and other sites cannot send (SameSite=Strict).
 * The cookie lives as long as the browser session; the server ends it sooner
 * when it idles past its expiry.
 */
export function sessionHandlers(ctx: DaemonContext, sessions: WebSessions, limiter: FailureLimiter): Pick<Handlers, SessionRoutes> {
  return {
    createSession: async ({ body, raw, reply }) => {
      const wait = limiter.blockedFor(raw.ip);
      if (wait > 0) throw rateLimited(reply, raw.ip, wait);
      const actor = await ctx.users.authenticate(body.token);
      if (!actor) {
        await failedAttempt(limiter, raw.ip);
        throw new BothubError('UNAUTHORIZED', 'that API key is not valid; check it, or ask the admin for a new one');
      }
      const { id, session } = await sessions.open(actor);
      void reply.setCookie(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', path: '/', secure: raw.protocol === 'https' });
      ctx.log.info({ user: actor.name, ip: raw.ip }, 'dashboard sign-in');
      return WebSessions.present(session);
    },
    getSession: async ({ raw }) => {
      if (!raw.webSession) throw new BothubError('UNAUTHORIZED', 'no dashboard session: this call came with a Bearer key; sign in with POST /api/v1/session');
      return WebSessions.present(raw.webSession);
    },
    deleteSession: async ({ raw, reply }) => {
      if (raw.webSession) await sessions.close(raw.webSession.id);
      void reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', path: '/', secure: raw.protocol === 'https' });
    },
  };
}
