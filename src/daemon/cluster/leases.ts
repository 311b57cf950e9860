import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/database.js';
import { isPostgres } from '../db/dialect.js';

/** Who holds a lease: unique per daemon process, readable in the table (which machine, which PID). */
export const daemonId = (): string => `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/**
 * Leases in the state database: a named right one daemon holds until it
 * expires, renewed while it is wanted. A daemon killed with -9 renews
 * nothing, so what it held is free again at most `ttlMs` later; a daemon
 * that merely lost its connection finds at the next renewal that it lost
 * the lease, and stops acting on it.
 *
 * Time is the database's clock on PostgreSQL (several machines, one clock);
 * SQLite has one daemon, whose clock it is.
 */
export class Leases {
  constructor(
    private readonly db: Db,
    /** This daemon's id (daemonId()). */
    readonly holder: string,
  ) {}

  private now(): RawBuilder<number> {
    return isPostgres(this.db) ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint` : sql<number>`${Date.now()}`;
  }

  /**
   * Takes `name` for `ttlMs` if it is free, expired or already this
   * daemon's (then it is a renewal); one statement, so two daemons taking
   * it at once cannot both succeed. True when this daemon holds it now.
   */
  async take(name: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const row = await this.db
      .insertInto('leases')
      .values({ name, holder: this.holder, expires_at: sql<number>`${now} + ${ttlMs}` })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder: (eb) => eb.ref('excluded.holder'), expires_at: (eb) => eb.ref('excluded.expires_at') })
          .where((eb) => eb.or([eb('leases.expires_at', '<', now), eb('leases.holder', '=', this.holder)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === this.holder;
  }

  /** Gives `name` up, if this daemon holds it (an expired one someone else took stays theirs). */
  async release(name: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', this.holder).execute();
  }

  /** Who holds `name` now; undefined when no one does (never taken, released or expired). */
  async holderOf(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('leases').select('holder').where('name', '=', name).where('expires_at', '>=', this.now()).executeTakeFirst();
    return row?.holder;
  }

  /** The names under `prefix` someone holds now. */
  async held(prefix: string): Promise<{ name: string; holder: string }[]> {
    return this.db.selectFrom('leases').select(['name', 'holder']).where('name', 'like', `${prefix}%`).where('expires_at', '>=', this.now()).execute();
  }
}
