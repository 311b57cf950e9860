import type { EventT } from '../../api/index.js';
import type { Actor } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';

/** State changes of sandboxes, kept in the database: `bothub events`. */
export class EventLog {
  constructor(private readonly db: Db) {}

  async record(row: Pick<SandboxRow, 'id' | 'name' | 'owner_id'>, type: string, detail: string | null = null): Promise<void> {
    await this.db.insertInto('events').values({ sandbox_id: row.id, sandbox_name: row.name, owner_id: row.owner_id, type, detail, at: new Date().toISOString() }).execute();
  }

  async list(actor: Actor, sandbox?: string, limit = 200): Promise<EventT[]> {
    let q = this.db.selectFrom('events').selectAll().orderBy('id', 'desc').limit(limit);
    if (sandbox) q = q.where('sandbox_name', '=', sandbox);
    if (!actor.admin) q = q.where('owner_id', '=', actor.id);
    return (await q.execute()).reverse().map((e) => ({ id: e.id, sandbox: e.sandbox_name, type: e.type, detail: e.detail, at: e.at }));
  }
}
