import { EventEmitter } from 'node:events';
import type { EventT } from '../../api/index.js';
import type { Actor } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { lockEventOrder } from '../db/dialect.js';
import type { Selectable } from 'kysely';
import type { EventRow, SandboxRow } from '../db/tables.js';

/** Whose events a reader gets: its own sandboxes' (all of them for the admin), of one sandbox if named. */
export interface EventFilter {
  actor: Actor;
  sandbox?: string;
}

const toApi = (e: Selectable<EventRow>): EventT => ({ id: e.id, sandbox: e.sandbox_name, type: e.type, detail: e.detail, at: e.at });
/** Events read per query while catching up, so a long backlog is never one huge read. */
const BATCH = 500;

/** State changes of sandboxes, kept in the database: `bothub events`, and live to the dashboard. */
export class EventLog {
  /** Says "something was recorded"; each follower reads what is new itself, so it gets every event once, in order. */
  private readonly recorded = new EventEmitter().setMaxListeners(0);

  constructor(private readonly db: Db) {}

  async record(row: Pick<SandboxRow, 'id' | 'name' | 'owner_id'>, type: string, detail: string | null = null): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await lockEventOrder(tx);
      await tx.insertInto('events').values({ sandbox_id: row.id, sandbox_name: row.name, owner_id: row.owner_id, type, detail, at: new Date().toISOString() }).execute();
    });
    this.recorded.emit('recorded');
  }

  private query(filter: EventFilter) {
    let q = this.db.selectFrom('events').selectAll();
    if (filter.sandbox) q = q.where('sandbox_name', '=', filter.sandbox);
    if (!filter.actor.admin) q = q.where('owner_id', '=', filter.actor.id);
    return q;
  }

  async list(actor: Actor, sandbox?: string, limit = 200): Promise<EventT[]> {
    const rows = await this.query({ actor, sandbox }).orderBy('id', 'desc').limit(limit).execute();
    return rows.reverse().map(toApi);
  }

  /** The newest event's id (0 when none): where a reader of live events only starts. */
  async lastId(): Promise<number> {
    const row = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return Number(row?.id ?? 0);
  }

  /**
   * Sends every event after `after` that the filter lets through, oldest
   * first, then each new one as it is recorded, until the returned function is
   * called. Ids commit in order (lockEventOrder) and each catch-up reads past
   * the last id sent, so nothing is skipped or sent twice.
   */
  follow(filter: EventFilter, after: number, send: (e: EventT) => void, onError: (e: unknown) => void): () => void {
    let last = after;
    let running = false;
    let again = false;
    let stopped = false;
    const catchUp = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          for (let n = BATCH; n === BATCH && !stopped;) {
            const rows = await this.query(filter).where('id', '>', last).orderBy('id').limit(BATCH).execute();
            for (const r of rows) if (!stopped) send(toApi(r));
            if (rows.length) last = rows[rows.length - 1]!.id;
            n = rows.length;
          }
        } while (again && !stopped);
      } catch (e) {
        stop();
        onError(e);
      } finally {
        running = false;
      }
    };
    const listener = () => void catchUp();
    const stop = () => {
      stopped = true;
      this.recorded.off('recorded', listener);
    };
    this.recorded.on('recorded', listener);
    void catchUp();
    return stop;
  }
}
