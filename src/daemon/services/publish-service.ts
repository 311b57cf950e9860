import { BothubError, type Actor } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import type { EventLog } from './event-log.js';
import type { PublishedUrl } from './sandbox-service.js';

export interface PreviewConfig {
  /** Host names are NAME-PORT.<domain>; "localhost" resolves on this machine without DNS. */
  domain: string;
  /** host:port the daemon answers on, as clients reach it. */
  authority: string;
}

/** Well under SQLite's and PostgreSQL's limits on bound parameters. */
const IDS_PER_QUERY = 500;

/** Which ports of which sandboxes are served by the preview proxy, and at what URLs. */
export class PublishService {
  constructor(
    private readonly db: Db,
    private readonly events: EventLog,
    private readonly config: PreviewConfig,
  ) {}

  urls(row: SandboxRow, ports: { port: number; public: number }[]): PublishedUrl[] {
    const port = this.config.authority.split(':').pop();
    return ports.map((p) => ({
      port: p.port,
      public: p.public === 1,
      url: `http://${row.name}-${p.port}.${this.config.domain}:${port}/`,
      pathUrl: `http://${this.config.authority}/p/${row.name}/${p.port}/`,
    }));
  }

  async urlsOf(row: SandboxRow): Promise<PublishedUrl[]> {
    return (await this.urlsOfEach([row])).get(row.id) ?? [];
  }

  /**
   * The URLs of many sandboxes in one query per few hundred (a list of 1,000
   * sandboxes was 1,000 round trips, and held a pooled connection that long).
   */
  async urlsOfEach(rows: readonly SandboxRow[]): Promise<Map<string, PublishedUrl[]>> {
    const byId = new Map(rows.map((r) => [r.id, r]));
    const ports = new Map<string, { port: number; public: number }[]>();
    const ids = [...byId.keys()];
    for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
      const some = ids.slice(i, i + IDS_PER_QUERY);
      const found = await this.db.selectFrom('publications').select(['sandbox_id', 'port', 'public']).where('sandbox_id', 'in', some).orderBy('port').execute();
      for (const p of found) ports.set(p.sandbox_id, [...(ports.get(p.sandbox_id) ?? []), p]);
    }
    return new Map([...byId].map(([id, row]) => [id, this.urls(row, ports.get(id) ?? [])]));
  }

  async publish(row: SandboxRow, port: number, isPublic: boolean): Promise<void> {
    if (!row.address) throw new BothubError('INVALID_STATE', `sandbox "${row.name}" has no network (\`network\` none); nothing can reach its ports`);
    await this.db
      .insertInto('publications')
      .values({ sandbox_id: row.id, port, public: isPublic ? 1 : 0, created_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['sandbox_id', 'port']).doUpdateSet({ public: isPublic ? 1 : 0 }))
      .execute();
    await this.events.record(row, 'published', `port ${port}${isPublic ? ' (public)' : ''}`);
  }

  async unpublish(row: SandboxRow, port: number): Promise<void> {
    const r = await this.db.deleteFrom('publications').where('sandbox_id', '=', row.id).where('port', '=', port).executeTakeFirst();
    if (!r.numDeletedRows) throw new BothubError('NOT_FOUND', `port ${port} of "${row.name}" is not published; see \`GET /api/v1/sandboxes/${row.name}\``);
    await this.events.record(row, 'unpublished', `port ${port}`);
  }

  /** The publication a preview request targets, if any. */
  async find(row: SandboxRow, port: number): Promise<{ public: boolean } | undefined> {
    const p = await this.db.selectFrom('publications').select('public').where('sandbox_id', '=', row.id).where('port', '=', port).executeTakeFirst();
    return p ? { public: p.public === 1 } : undefined;
  }

  /** May this caller use a private preview? Its owner and the admin may. */
  static allowed(actor: Actor | undefined, row: SandboxRow): boolean {
    return !!actor && (actor.admin || actor.id === row.owner_id);
  }
}
