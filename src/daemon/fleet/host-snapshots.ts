import type { Logger } from 'pino';
import type { ApiClient, SandboxT, SnapshotT } from '../../api/index.js';
import { BothubError, notFound, validateName, type Actor } from '../../core/index.js';
import type { LongOperation } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow, SnapshotRow } from '../db/tables.js';
import type { FleetPort } from '../services/fleet-port.js';
import { LOCAL, newSandboxRow, type SandboxService } from '../services/sandbox-service.js';
import { nameTaken, ownSandboxGone } from '../services/snapshot-service.js';
import { toSnapshot } from '../services/snapshot-writer.js';
import type { SnapshotsElsewhere } from '../services/snapshots-elsewhere.js';
import { travellingSpec, type TravellingSpec } from './import-service.js';
import type { KeptSnapshotCopy } from './kept-snapshot-copy.js';

export interface HostSnapshotsDeps {
  db: Db;
  sandboxes: SandboxService;
  fleet: FleetPort;
  /** Restores onto another host than the one keeping the snapshot (made after this: hence a function). */
  copies: () => KeptSnapshotCopy;
  log: Logger;
}

/** A branch belongs to whoever branched it (a user sees only their own snapshots anyway; an admin's branch is the snapshot owner's). */
export const ownerOf = (snap: SnapshotRow, actor: Actor): string => (actor.admin && snap.owner_id ? snap.owner_id : actor.id);

/** Why a host's snapshots cannot be restored now, or undefined when they can. */
type Reason = { code: 'INVALID_STATE' | 'UNAVAILABLE'; message: string } | undefined;

/**
 * Snapshots of sandboxes on fleet hosts, with several daemons as control
 * planes: the sandbox's host's agent takes it and keeps its files in its own
 * store; the shared database keeps its record (which host, the owner, the
 * size the quota counts, and its sandbox's spec), so every daemon lists,
 * reads, deletes and restores it. A restore runs on the host that keeps it,
 * through its agent, and the sandbox's record follows the agent's copy as a
 * sandbox placed there does; one onto another host copies it there first
 * (kept-snapshot-copy.ts).
 */
export class HostSnapshots implements SnapshotsElsewhere {
  constructor(private readonly deps: HostSnapshotsDeps) {}

  async create(sandbox: SandboxRow, req: { name: string; leaveRunning?: boolean }, op: LongOperation): Promise<SnapshotT> {
    const { db, sandboxes, log } = this.deps;
    const agent = await this.deps.fleet.agent(sandbox.host);
    const snap = await agent.progress<SnapshotT>('createSnapshot', { params: { name: sandbox.name }, body: req, signal: op.signal }, (p) => op.onProgress?.(p));
    const record: SnapshotRow = {
      id: snap.id,
      name: snap.name,
      sandbox_id: sandbox.id,
      sandbox_name: sandbox.name,
      size_bytes: snap.sizeBytes,
      leave_running: snap.leaveRunning ? 1 : 0,
      created_at: snap.createdAt,
      owner_id: sandbox.owner_id,
      status: snap.status,
      host: sandbox.host,
      spec_json: JSON.stringify(travellingSpec(sandbox)),
    };
    try {
      await db.insertInto('snapshots').values(record).execute();
    } catch (e) {
      // Another daemon recorded one of this name meanwhile (of a sandbox on another host): this one goes again.
      await agent.call('deleteSnapshot', { params: { name: snap.name } }).catch((err: unknown) => log.error({ err, snapshot: snap.name, host: sandbox.host }, 'removing an unrecorded snapshot failed'));
      if (await db.selectFrom('snapshots').select('id').where('name', '=', snap.name).executeTakeFirst()) throw nameTaken(snap.name);
      throw e;
    }
    // Stopped into it unless left running: the record follows the agent's copy.
    await sandboxes.follow(sandbox.id, await agent.call('getSandbox', { params: { name: sandbox.name } }));
    return { ...snap, keptOn: sandbox.host };
  }

  async settle(rows: SnapshotRow[]): Promise<SnapshotRow[]> {
    const saving = rows.filter((r) => r.host !== LOCAL && r.status === 'saving');
    if (!saving.length) return rows;
    const why = await this.reasonsOf(saving);
    const now = new Map<string, SnapshotRow | undefined>();
    for (const host of new Set(saving.filter((r) => !why(r)).map((r) => r.host))) {
      const there = await this.agent(host)
        .then((agent) => agent.call('listSnapshots', { query: {} }))
        .catch((err: unknown) => this.deps.log.warn({ err, host }, 'asking an agent about its snapshots failed; they show as recorded'));
      if (!there) continue;
      const byId = new Map(there.map((s) => [s.id, s]));
      for (const row of saving.filter((r) => r.host === host)) {
        const s = byId.get(row.id);
        if (s?.status === 'ready') {
          await this.deps.db.updateTable('snapshots').set({ status: 'ready', size_bytes: s.sizeBytes }).where('id', '=', row.id).execute();
          now.set(row.id, { ...row, status: 'ready', size_bytes: s.sizeBytes });
        } else if (!s) {
          // Its durable copy failed there, and the agent forgot it: it never was a snapshot to restore.
          await this.deps.db.deleteFrom('snapshots').where('id', '=', row.id).execute();
          now.set(row.id, undefined);
        }
      }
    }
    return rows.flatMap((r) => (now.has(r.id) ? (now.get(r.id) ? [now.get(r.id)!] : []) : [r]));
  }

  async reasons(rows: SnapshotRow[]): Promise<(row: SnapshotRow) => string | undefined> {
    const why = await this.reasonsOf(rows);
    return (row) => why(row)?.message;
  }

  async get(row: SnapshotRow): Promise<SnapshotT> {
    const [settled] = await this.settle([row]);
    if (!settled) throw notFound('snapshot', row.name, 'see `GET /api/v1/snapshots`');
    const why = (await this.reasons([settled]))(settled);
    if (why) return toSnapshot(settled, undefined, undefined, why);
    // What only its manifest says (the host that wrote it, how long it froze) is the agent's to tell.
    const there = await (await this.agent(row.host))
      .call('getSnapshot', { params: { name: row.name } })
      .catch((e: Error) => toSnapshot(settled, undefined, undefined, `host "${row.host}"'s agent could not describe it: ${e.message}`));
    return { ...there, ...toSnapshot(settled) };
  }

  async delete(row: SnapshotRow, force = false): Promise<void> {
    const why = (await this.reasonsOf([row]))(row);
    try {
      if (why?.code === 'UNAVAILABLE') throw new BothubError('UNAVAILABLE', `${why.message}; delete it once the host answers again`);
      // A removed host took its files with it: only the record is left to go.
      if (!why) await (await this.agent(row.host)).call('deleteSnapshot', { params: { name: row.name } }).catch((e: BothubError) => (e.code === 'NOT_FOUND' ? undefined : Promise.reject(e)));
    } catch (e) {
      if (!force) throw e;
      this.deps.log.warn({ err: e, snapshot: row.name, host: row.host }, 'a snapshot kept on a host that did not answer is forgotten here; its files stay there');
    }
    await this.deps.db.deleteFrom('snapshots').where('id', '=', row.id).execute();
  }

  async restore(snap: SnapshotRow, req: { name?: string; host?: string }, actor: Actor, op: LongOperation): Promise<SandboxT> {
    const why = (await this.reasonsOf([snap]))(snap);
    if (why) throw new BothubError(why.code, `snapshot "${snap.name}" cannot be restored: ${why.message}`);
    // A branch its host has no room for goes where the scheduler finds some.
    const host = req.host ?? (req.name ? await this.deps.copies().hostWithRoom(snap, ownerOf(snap, actor)) : undefined);
    // Onto another host: its files are copied there first (kept-snapshot-copy.ts); the snapshot stays kept here.
    if (host !== undefined && host !== snap.host) {
      const [settled] = await this.settle([snap]);
      if (!settled) throw notFound('snapshot', snap.name, 'see `GET /api/v1/snapshots`');
      return this.deps.copies().restore(settled, { ...req, host }, actor, op);
    }
    const agent = await this.agent(snap.host);
    const restoreThere = (name?: string) =>
      agent.progress<SandboxT>('restoreSnapshot', { params: { name: snap.name }, body: name ? { name } : {}, signal: op.signal }, (p) => op.onProgress?.(p));
    return req.name ? this.branch(snap, req.name, actor, restoreThere) : this.resume(snap, actor, restoreThere);
  }

  /** The snapshot's own sandbox runs again on its host, under the same claim (quota, GPUs) as any start. */
  private async resume(snap: SnapshotRow, actor: Actor, restoreThere: () => Promise<SandboxT>): Promise<SandboxT> {
    const { db, sandboxes } = this.deps;
    const current = await db.selectFrom('sandboxes').selectAll().where('id', '=', snap.sandbox_id).executeTakeFirst();
    if (!current) throw ownSandboxGone(snap);
    if (current.host !== snap.host)
      throw new BothubError(
        'INVALID_STATE',
        `sandbox "${current.name}" runs on host "${current.host}" now, and snapshot "${snap.name}" is kept on host "${snap.host}"; branch a new one there (\`POST /api/v1/snapshots/${snap.name}/restore {"name": "NEW"}\`)`,
      );
    return sandboxes.lock.run(current.id, async () => {
      const { row } = await sandboxes.require(current.name, 'restore', actor);
      return sandboxes.claim(row, async () => sandboxes.present(await sandboxes.follow(row.id, await restoreThere(), true)));
    });
  }

  /** A new sandbox on the snapshot's host: recorded first (its quota checked, the name taken), then restored there by the agent. */
  private async branch(snap: SnapshotRow, name: string, actor: Actor, restoreThere: (name: string) => Promise<SandboxT>): Promise<SandboxT> {
    const { sandboxes } = this.deps;
    validateName('sandbox', name);
    const { name: _name, ...spec } = JSON.parse(snap.spec_json ?? 'null') as TravellingSpec;
    const record = await sandboxes.insert(newSandboxRow({ ...spec, diskMb: spec.diskMb ?? null, secrets: [], name, ownerId: ownerOf(snap, actor), host: snap.host }));
    return sandboxes.lock.run(record.id, async () => {
      try {
        return sandboxes.present(await sandboxes.follow(record.id, await restoreThere(name), true));
      } catch (e) {
        await sandboxes.forget(record);
        throw e;
      }
    });
  }

  private agent(host: string): Promise<ApiClient> {
    return this.deps.fleet.agent(host);
  }

  /** Per snapshot: its host was removed (its files went with it), or does not answer now. */
  private async reasonsOf(rows: SnapshotRow[]): Promise<(row: SnapshotRow) => Reason> {
    if (!rows.some((r) => r.host !== LOCAL)) return () => undefined;
    const [known, down] = [new Set(await this.deps.fleet.remoteHosts()), await this.deps.fleet.unreachable()];
    return (row) => {
      if (row.host === LOCAL) return undefined;
      if (!known.has(row.host))
        return {
          code: 'INVALID_STATE',
          message: `host "${row.host}", which kept its files, was removed and they went with it; delete the record (\`DELETE /api/v1/snapshots/${row.name}\`)`,
        };
      if (down.has(row.host))
        return { code: 'UNAVAILABLE', message: `host "${row.host}", which keeps its files, does not answer; check it (\`POST /api/v1/hosts/${row.host}/check\`)` };
      return undefined;
    };
  }
}
