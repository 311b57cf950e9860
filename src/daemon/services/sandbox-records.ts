import { randomBytes } from 'node:crypto';
import { canSee, notFound, SYSTEM, type Actor, type SandboxSpec, type SandboxStatus } from '../../core/index.js';
import type { SandboxT } from '../../api/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';

/** The daemon's own machine, as a host name. */
export const LOCAL = 'local';

export const NOT_FOUND_HINT = 'see `GET /api/v1/sandboxes`';

export interface PublishedUrl {
  port: number;
  public: boolean;
  url: string;
  pathUrl: string;
}

export function toApi(row: SandboxRow, ownerName: string | null = null, urls: PublishedUrl[] = [], hostDown = false): SandboxT {
  return {
    id: row.id,
    name: row.name,
    status: hostDown ? 'unknown' : row.status,
    statusReason: hostDown ? `host "${row.host}" does not answer; its last known status was ${row.status}` : row.status_reason,
    host: row.host,
    gpus: JSON.parse(row.gpu_uuids_json) as string[],
    diskMb: row.disk_mb,
    image: row.image,
    cpus: row.cpus,
    memoryMb: row.memory_mb,
    pidsLimit: row.pids_limit,
    network: row.network,
    address: row.address,
    command: JSON.parse(row.command_json) as string[],
    env: JSON.parse(row.env_json) as Record<string, string>,
    secrets: JSON.parse(row.secrets_json) as string[],
    owner: ownerName,
    thermal: row.thermal,
    idleWarmMs: row.idle_warm_ms,
    idleColdMs: row.idle_cold_ms,
    keepHot: row.keep_hot === 1,
    urls,
    createdAt: row.created_at,
    startedAt: row.started_at,
  };
}

/** A new record: a spec, a name and an owner. */
export interface NewSandbox extends SandboxSpec {
  name: string;
  ownerId: string;
  /** A fleet host: its agent runs it; this record follows it. */
  host?: string;
}

/** The spec a sandbox record was made from. */
export function specOf(row: SandboxRow): SandboxSpec {
  return {
    image: row.image,
    cpus: row.cpus,
    memoryMb: row.memory_mb,
    pidsLimit: row.pids_limit,
    network: row.network,
    command: JSON.parse(row.command_json) as string[],
    env: JSON.parse(row.env_json) as Record<string, string>,
    secrets: JSON.parse(row.secrets_json) as string[],
    idleWarmMs: row.idle_warm_ms,
    idleColdMs: row.idle_cold_ms,
    keepHot: row.keep_hot === 1,
    gpus: row.gpus,
    diskMb: row.disk_mb,
  };
}

/** A record in status 'creating': the caller boots or restores it, then marks it running. */
export function newSandboxRow(n: NewSandbox): SandboxRow {
  const now = new Date().toISOString();
  return {
    id: randomBytes(6).toString('hex'),
    name: n.name,
    image: n.image,
    status: 'creating',
    status_reason: null,
    cpus: n.cpus,
    memory_mb: n.memoryMb,
    pids_limit: n.pidsLimit,
    network: n.network,
    address: null,
    command_json: JSON.stringify(n.command),
    env_json: JSON.stringify(n.env),
    created_at: now,
    started_at: null,
    updated_at: now,
    snapshot_id: null,
    owner_id: n.ownerId,
    secrets_json: JSON.stringify(n.secrets),
    thermal: 'hot',
    idle_warm_ms: n.idleWarmMs,
    idle_cold_ms: n.idleColdMs,
    keep_hot: n.keepHot ? 1 : 0,
    last_active_at: now,
    host: n.host ?? LOCAL,
    gpus: n.gpus,
    gpu_uuids_json: '[]',
    disk_mb: n.diskMb,
  };
}

export interface SandboxRecordsDeps {
  db: Db;
  /** Preview URLs of sandboxes, by id (the publishing service). */
  urlsOf: (rows: readonly SandboxRow[]) => Promise<Map<string, PublishedUrl[]>>;
  /** Fleet hosts whose agent does not answer: their sandboxes show as 'unknown'. */
  unreachable: () => Promise<Set<string>>;
  /** Told of every record made, changed or removed (the event log). */
  onChange: (before: SandboxRow | undefined, after: SandboxRow | undefined) => Promise<void>;
}

/**
 * The sandbox records: reading them as a user may see them, presenting them
 * as the API does, and changing their status. Every change is told to
 * `onChange`, so the event log misses none.
 */
export class SandboxRecords {
  constructor(private readonly deps: SandboxRecordsDeps) {}

  private async ownerNames(): Promise<Map<string, string>> {
    const users = await this.deps.db.selectFrom('users').select(['id', 'name']).execute();
    return new Map(users.map((u) => [u.id, u.name]));
  }

  async present(row: SandboxRow): Promise<SandboxT> {
    const down = row.host !== LOCAL && (await this.deps.unreachable()).has(row.host);
    const owner = row.owner_id ? await this.deps.db.selectFrom('users').select('name').where('id', '=', row.owner_id).executeTakeFirst() : undefined;
    return toApi(row, owner?.name ?? null, (await this.deps.urlsOf([row])).get(row.id) ?? [], down);
  }

  async list(actor: Actor): Promise<SandboxT[]> {
    let q = this.deps.db.selectFrom('sandboxes').selectAll().orderBy('created_at');
    if (!actor.admin) q = q.where('owner_id', '=', actor.id);
    const rows = await q.execute();
    const [owners, down, urls] = [await this.ownerNames(), await this.deps.unreachable(), await this.deps.urlsOf(rows)];
    return rows.map((r) => toApi(r, r.owner_id ? (owners.get(r.owner_id) ?? null) : null, urls.get(r.id) ?? [], down.has(r.host)));
  }

  /** A sandbox another user owns answers exactly as a missing one does. */
  async row(name: string, actor: Actor = SYSTEM): Promise<SandboxRow> {
    const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row || !canSee(actor, row.owner_id)) throw notFound('sandbox', name, NOT_FOUND_HINT);
    return row;
  }

  async setStatus(id: string, status: SandboxStatus, reason: string | null, extra: Partial<SandboxRow> = {}): Promise<SandboxRow> {
    const before = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst();
    await this.deps.db
      .updateTable('sandboxes')
      .set({ ...extra, status, status_reason: reason, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .execute();
    const after = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    if (before) await this.deps.onChange(before, after);
    return after;
  }

  /**
   * Brings a record of a sandbox on a fleet host in line with what its agent
   * says of it. `arrived`: it was just restored there (a move, a placing),
   * which is activity: a rented host's idle clock must not count from before
   * it came, or the host would be released under the request that brought it.
   */
  async follow(id: string, there: SandboxT, arrived = false): Promise<SandboxRow> {
    return this.setStatus(id, there.status, there.statusReason, {
      ...(arrived ? { last_active_at: new Date().toISOString() } : {}),
      address: there.address,
      thermal: there.thermal,
      started_at: there.startedAt,
      gpus: there.gpus.length,
      gpu_uuids_json: JSON.stringify(there.gpus),
    });
  }

  /** Tells of a record just inserted. */
  inserted(row: SandboxRow): Promise<void> {
    return this.deps.onChange(undefined, row);
  }

  /** Removes the record and its exec ledger. */
  async remove(row: SandboxRow): Promise<void> {
    await this.deps.db.deleteFrom('sandboxes').where('id', '=', row.id).execute();
    await this.deps.db.deleteFrom('execs').where('sandbox_id', '=', row.id).execute();
    await this.deps.onChange(row, undefined);
  }
}
