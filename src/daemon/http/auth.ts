import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { BothubError, type Actor } from '../../core/index.js';
import type { UserService } from '../services/user-service.js';
import { WebSessions, type OpenSession } from '../services/web-sessions.js';
import { errorBody } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
    /** Set when the caller came with the dashboard's session cookie rather than a Bearer key. */
    webSession?: OpenSession & { id: string };
  }
  interface FastifyContextConfig {
    auth?: 'none' | 'user' | 'admin';
  }
}

const WINDOW_MS = 60_000;

/**
 * Failed attempts per client address: each costs a delay, and past
 * maxFailures in a minute the address gets 429 until the window ends.
 */
export class FailureLimiter {
  private failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly maxFailures: number,
    /** What each failure costs its caller in time (config authFailureDelayMs). */
    readonly delayMs: number,
  ) {}

  blockedFor(ip: string): number {
    const f = this.failures.get(ip);
    if (!f || f.resetAt < Date.now()) return 0;
    return f.count >= this.maxFailures ? f.resetAt - Date.now() : 0;
  }

  fail(ip: string): void {
    const now = Date.now();
    const f = this.failures.get(ip);
    if (!f || f.resetAt < now) this.failures.set(ip, { count: 1, resetAt: now + WINDOW_MS });
    else f.count++;
    if (this.failures.size > 10_000) for (const [k, v] of this.failures) if (v.resetAt < now) this.failures.delete(k);
  }
}

export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

/** The dashboard's sign-in cookie; it holds a random session id, never the API key. */
export const SESSION_COOKIE = 'bothub_session';
/** Calls made with the session cookie that change state must carry the session's CSRF token in this header. */
export const CSRF_HEADER = 'x-bothub-csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * A WebSocket opened with the cookie must come from a page of this daemon:
 * the browser sends the cookie on a cross-site upgrade too, and a WebSocket
 * has no CSRF header, so the Origin it cannot forge is what is checked.
 */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (!origin || !req.headers.host) return false;
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === req.headers.host.toLowerCase();
  } catch {
    return false;
  }
}

/** Checks a session cookie: the error reply to send, or the session. */
async function cookieAuth(req: FastifyRequest, sessions: WebSessions, id: string): Promise<{ status: 401 | 403; message: string } | OpenSession> {
  const session = await sessions.find(id);
  if (!session) return { status: 401, message: 'your dashboard session has ended (signed out, expired, or the API key was rotated); sign in again with an API key' };
  if (req.headers.upgrade?.toLowerCase() === 'websocket') {
    if (!sameOrigin(req))
      return {
        status: 403,
        message: `a WebSocket opened with the session cookie must come from this daemon's own pages (Origin ${req.headers.origin ?? 'missing'} is not ${req.headers.host})`,
      };
  } else if (!SAFE_METHODS.has(req.method) && !WebSessions.csrfMatches(session, req.headers[CSRF_HEADER] as string | undefined)) {
    return {
      status: 403,
      message: 'a call that changes state with the session cookie needs header X-Bothub-CSRF set to the csrfToken that sign-in (POST /api/v1/session) returned',
    };
  }
  return session;
}

/**
 * Every route needs a key unless its table entry says auth: 'none'; admin
 * routes need the admin's. The key comes as a Bearer token, or a signed-in
 * dashboard's session cookie stands for it. Returns the failure limiter, which
 * sign-in shares.
 */
export function installAuth(app: FastifyInstance, users: UserService, sessions: WebSessions, maxFailures: number, delayMs: number): FailureLimiter {
  const limiter = new FailureLimiter(maxFailures, delayMs);
  app.addHook('onRequest', async (req, reply) => {
    const level = req.routeOptions.config?.auth ?? 'user';
    if (level === 'none') return;
    const wait = limiter.blockedFor(req.ip);
    if (wait > 0) throw rateLimited(reply, req.ip, wait);
    const token = bearer(req);
    const cookie = token ? undefined : req.cookies[SESSION_COOKIE];
    let actor: Actor | undefined;
    if (cookie) {
      // Not counted as a failed attempt: a stale cookie is common and its 256-bit id cannot be guessed.
      const result = await cookieAuth(req, sessions, cookie);
      if ('status' in result) return reply.code(result.status).send(errorBody(result.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', result.message));
      req.webSession = { ...result, id: cookie };
      actor = result.actor;
    } else actor = token ? await users.authenticate(token) : undefined;
    if (!actor) {
      await failedAttempt(limiter, req.ip);
      const message = token
        ? 'the API key is not valid; check the key sent as `Authorization: Bearer KEY`, or ask the admin for a new one'
        : 'this route needs an API key: send it as `Authorization: Bearer KEY`';
      return reply.code(401).send(errorBody('UNAUTHORIZED', message));
    }
    if (level === 'admin' && !actor.admin) {
      return reply.code(403).send(errorBody('FORBIDDEN', 'only the admin may do this'));
    }
    req.actor = actor;
  });
  return limiter;
}

/** Refuses a caller past the failure limit: 429 with the seconds to wait (sign-in throws the same). */
export function rateLimited(reply: FastifyReply, ip: string, waitMs: number): BothubError {
  void reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
  return new BothubError('RATE_LIMITED', `too many failed attempts from ${ip}; wait ${Math.ceil(waitMs / 1000)} s and check your API key`);
}

/** Counts a failed attempt and slows the caller down. */
export async function failedAttempt(limiter: FailureLimiter, ip: string): Promise<void> {
  limiter.fail(ip);
  if (limiter.delayMs > 0) await sleep(limiter.delayMs);
}

/** The authenticated caller; the auth hook guarantees one on every non-public route. */
export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new BothubError('UNAUTHORIZED', 'no API key was checked for this request');
  return req.actor;
}
