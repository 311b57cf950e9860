import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { BothubError, type Actor } from '../../core/index.js';
import type { UserService } from '../services/user-service.js';
import { errorBody } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
  }
  interface FastifyContextConfig {
    auth?: 'none' | 'user' | 'admin';
  }
}

const WINDOW_MS = 60_000;
const FAILURE_DELAY_MS = 100;

/**
 * Failed attempts per client address: each costs a delay, and past
 * maxFailures in a minute the address gets 429 until the window ends.
 */
class FailureLimiter {
  private failures = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly maxFailures: number) {}

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

/** Every route needs a key unless its table entry says auth: 'none'; admin routes need the admin's. */
export function installAuth(app: FastifyInstance, users: UserService, maxFailures: number): void {
  const limiter = new FailureLimiter(maxFailures);
  app.addHook('onRequest', async (req, reply) => {
    const level = req.routeOptions.config?.auth ?? 'user';
    if (level === 'none') return;
    const wait = limiter.blockedFor(req.ip);
    if (wait > 0) {
      void reply.header('retry-after', String(Math.ceil(wait / 1000)));
      return reply.code(429).send(errorBody('RATE_LIMITED', `too many failed attempts from ${req.ip}; wait ${Math.ceil(wait / 1000)} s and check your API key`));
    }
    const token = bearer(req);
    const actor = token ? await users.authenticate(token) : undefined;
    if (!actor) {
      limiter.fail(req.ip);
      await sleep(FAILURE_DELAY_MS);
      const message = token
        ? 'the API key is not valid; check --token / BOTHUB_TOKEN, or ask the admin for a new key'
        : 'this route needs an API key: pass --token or BOTHUB_TOKEN, or run `bothub setup --url URL --token KEY`';
      return reply.code(401).send(errorBody('UNAUTHORIZED', message));
    }
    if (level === 'admin' && !actor.admin) {
      return reply.code(403).send(errorBody('FORBIDDEN', 'only the admin may do this'));
    }
    req.actor = actor;
  });
}

/** The authenticated caller; the auth hook guarantees one on every non-public route. */
export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new BothubError('UNAUTHORIZED', 'no API key was checked for this request');
  return req.actor;
}
