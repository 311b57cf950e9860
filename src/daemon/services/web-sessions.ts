import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { WebSessionT } from '../../api/index.js';
import { hashSecret, type Actor } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { toActor } from './user-service.js';

/** Signed-in dashboards stay signed in while used; 12 h without a request ends them. */
export const SESSION_IDLE_MS = 12 * 3600_000;
/** A session's expiry is pushed forward at most this often, so reads do not each cost a write. */
const SLIDE_EVERY_MS = 60_000;

export interface OpenSession {
  actor: Actor;
  csrfToken: string;
  expiresAt: string;
}

const expiry = (now: number) => new Date(now + SESSION_IDLE_MS).toISOString();

/**
 * Dashboard sign-ins. The browser holds a random id in an HttpOnly cookie; the
 * database holds only its hash, bound to the user and to the key id the user
 * signed in with: rotating the key or removing the user ends every session.
 */
export class WebSessions {
  /** Says which session was signed out, so its open sockets close at once. */
  private readonly ended = new EventEmitter().setMaxListeners(0);

  constructor(private readonly db: Db) {}

  /** Opens a session for a user who just proved their API key; returns the cookie's id. */
  async open(actor: Actor): Promise<{ id: string; session: OpenSession }> {
    const user = await this.db.selectFrom('users').select('key_id').where('id', '=', actor.id).executeTakeFirstOrThrow();
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    const now = Date.now();
    const expiresAt = expiry(now);
    await this.db
      .insertInto('web_sessions')
      .values({ id_hash: hashSecret(id), user_id: actor.id, key_id: user.key_id, csrf_token: csrfToken, created_at: new Date(now).toISOString(), expires_at: expiresAt })
      .execute();
    // Sign-ins are rare: the time to drop the ones that ran out.
    await this.db.deleteFrom('web_sessions').where('expires_at', '<', new Date(now).toISOString()).execute();
    return { id, session: { actor, csrfToken, expiresAt } };
  }

  /** The session a cookie's id names, if it is still good; its expiry slides forward. */
  async find(id: string): Promise<OpenSession | undefined> {
    const idHash = hashSecret(id);
    const row = await this.db
      .selectFrom('web_sessions')
      .innerJoin('users', 'users.id', 'web_sessions.user_id')
      .selectAll('users')
      .select(['web_sessions.key_id as session_key_id', 'web_sessions.csrf_token', 'web_sessions.expires_at'])
      .where('web_sessions.id_hash', '=', idHash)
      .executeTakeFirst();
    const now = Date.now();
    if (!row || row.session_key_id !== row.key_id || Date.parse(row.expires_at) <= now) {
      if (row) await this.db.deleteFrom('web_sessions').where('id_hash', '=', idHash).execute();
      return undefined;
    }
    let expiresAt = row.expires_at;
    if (Date.parse(row.expires_at) - (now + SESSION_IDLE_MS) < -SLIDE_EVERY_MS) {
      expiresAt = expiry(now);
      await this.db.updateTable('web_sessions').set({ expires_at: expiresAt }).where('id_hash', '=', idHash).execute();
    }
    return { actor: toActor(row), csrfToken: row.csrf_token, expiresAt };
  }

  async close(id: string): Promise<void> {
    await this.db.deleteFrom('web_sessions').where('id_hash', '=', hashSecret(id)).execute();
    this.ended.emit(hashSecret(id));
  }

  /** Calls `fn` when the session is signed out; returns the function that stops listening. */
  onSignOut(id: string, fn: () => void): () => void {
    const key = hashSecret(id);
    this.ended.once(key, fn);
    return () => this.ended.off(key, fn);
  }

  static csrfMatches(session: OpenSession, header: string | undefined): boolean {
    if (!header) return false;
    const a = Buffer.from(header);
    const b = Buffer.from(session.csrfToken);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  static present(s: OpenSession): WebSessionT {
    return { user: { name: s.actor.name, admin: s.actor.admin }, csrfToken: s.csrfToken, expiresAt: s.expiresAt };
  }
}
