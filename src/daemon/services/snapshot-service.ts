import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SandboxT, SnapshotT } from '../../api/index.js';
import { BothubError, canSee, checkCompatibility, gpuNeedsOf, notFound, validateName, type Actor, type HostFingerprint } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import {
  checksumTree,
  MANIFEST,
  MANIFEST_VERSION,
  readGpuState,
  verifyTree,
  type Checkpointer,
  type LongOperation,
  type SandboxRuntime,
  type SnapshotManifest,
} from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { ExecRow, SnapshotRow } from '../db/tables.js';
import type { ExecLedger } from './exec-ledger.js';
import { enforceSnapshotQuota } from './quota.js';
import { newSandboxRow, specOf, type SandboxService } from './sandbox-service.js';

export interface SnapshotServiceDeps {
  db: Db;
  host: Host;
  sandboxes: SandboxService;
  runtime: SandboxRuntime;
  checkpointer: Checkpointer;
  dir: string;
  fingerprint: () => Promise<HostFingerprint>;
  /** Keys for encrypted images, derived from the master key. */
  deriveKey: (purpose: string) => Buffer;
  ledger: ExecLedger;
  log: Logger;
}

const snapshotKeyPurpose = (snapshotId: string) => `snapshot-images:${snapshotId}`;

const PARTIAL = '.partial-';

function toSnapshot(row: SnapshotRow, manifest?: SnapshotManifest): SnapshotT {
  return {
    id: row.id,
    name: row.name,
    sandbox: row.sandbox_name,
    sizeBytes: row.size_bytes,
    leaveRunning: row.leave_running === 1,
    createdAt: row.created_at,
    ...(manifest
      ? {
          frozenMs: manifest.frozenMs,
          encrypted: manifest.encrypted ?? false,
          host: {
            kernel: manifest.host.kernel,
            arch: manifest.host.arch,
            cpuModel: manifest.host.cpuModel,
            criuVersion: manifest.host.criuVersion,
            runcVersion: manifest.host.runcVersion,
          },
        }
      : {}),
  };
}

/**
 * Snapshots as users see them. A snapshot directory becomes visible only when
 * complete: it is written under a temporary name, synced, then renamed; a
 * crash leaves only a temporary directory, removed at the next start.
 */
export class SnapshotService {
  constructor(private readonly deps: SnapshotServiceDeps) {}

  private path(id: string): string {
    return join(this.deps.dir, id);
  }

  /** The directory that holds every snapshot's directory. */
  get dir(): string {
    return this.deps.dir;
  }

  /** Where a snapshot's files are (tests and tools look inside). */
  dirOf(id: string): string {
    return this.path(id);
  }

  /** Removes what a crash left: partial directories, and directories no record owns. */
  async init(): Promise<void> {
    const { db, dir, log } = this.deps;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const rows = await db.selectFrom('snapshots').selectAll().execute();
    const known = new Set(rows.map((r) => r.id));
    for (const entry of await readdir(dir)) {
      if (entry.startsWith(PARTIAL) || !known.has(entry)) {
        log.warn({ entry }, 'removing an unfinished snapshot directory');
        await rm(join(dir, entry), { recursive: true, force: true });
      }
    }
    for (const row of rows) {
      if (!existsSync(join(this.path(row.id), MANIFEST))) {
        log.error({ snapshot: row.name }, 'snapshot directory is missing; forgetting the record');
        await db.deleteFrom('snapshots').where('id', '=', row.id).execute();
      }
    }
  }

  async list(actor: Actor, sandbox?: string): Promise<SnapshotT[]> {
    let q = this.deps.db.selectFrom('snapshots').selectAll().orderBy('created_at');
    if (sandbox) q = q.where('sandbox_name', '=', sandbox);
    if (!actor.admin) q = q.where('owner_id', '=', actor.id);
    return (await q.execute()).map((r) => toSnapshot(r));
  }

  async row(name: string, actor: Actor): Promise<SnapshotRow> {
    const row = await this.deps.db.selectFrom('snapshots').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row || !canSee(actor, row.owner_id)) throw notFound('snapshot', name, 'see `bothub snapshot list`');
    return row;
  }

  async manifest(row: SnapshotRow): Promise<SnapshotManifest> {
    return JSON.parse(await readFile(join(this.path(row.id), MANIFEST), 'utf8')) as SnapshotManifest;
  }

  async get(name: string, actor: Actor): Promise<SnapshotT> {
    const row = await this.row(name, actor);
    return toSnapshot(row, await this.manifest(row));
  }

  async create(sandboxName: string, req: { name: string; leaveRunning?: boolean }, actor: Actor, op: LongOperation = {}): Promise<SnapshotT> {
    const { db, sandboxes, checkpointer, host } = this.deps;
    validateName('snapshot', req.name);
    const { row: sb } = await sandboxes.require(sandboxName, 'snapshot', actor);
    await enforceSnapshotQuota(db, sb.owner_id);
    return sandboxes.lock.run(sb.id, async () => {
      const { row, def } = await sandboxes.require(sandboxName, 'snapshot', actor);
      if (await db.selectFrom('snapshots').select('id').where('name', '=', req.name).executeTakeFirst()) {
        throw new BothubError('NAME_TAKEN', `a snapshot named "${req.name}" already exists; pick another --name or delete it with \`bothub snapshot delete ${req.name}\``);
      }
      const attached = sandboxes.attachedExecs(row.id);
      if (attached)
        throw new BothubError(
          'INVALID_STATE',
          `sandbox "${sandboxName}" has ${attached} command(s) attached to a client; a live exec connection cannot be checkpointed — wait for them to finish, then snapshot`,
        );

      const id = randomBytes(6).toString('hex');
      // Named with its sandbox: a crash recovery can give the processes a stopping snapshot ended back to it (snapshot-recovery.ts).
      const partial = join(this.deps.dir, `${PARTIAL}${id}.${row.id}`);
      const leaveRunning = req.leaveRunning ?? false;
      const createdAt = new Date().toISOString();
      try {
        // Memory of a sandbox with secrets holds their values: such snapshots are encrypted at rest.
        const key = sandboxes.holdsSecrets(row) ? this.deps.deriveKey(snapshotKeyPurpose(id)) : undefined;
        const frozenMs = await checkpointer.checkpoint(def, partial, { ...op, leaveRunning, key });
        op.onProgress?.({ step: 'checksums' });
        const files = await checksumTree(partial, op.signal);
        const sizeBytes = Object.values(files).reduce((n, f) => n + f.size, 0);
        const fingerprint = await this.deps.fingerprint();
        const gpuState = await readGpuState(partial);
        const gpuNeeds = gpuState && gpuNeedsOf(fingerprint.gpu, gpuState.uuids, Math.max(0, ...Object.values(gpuState.memoryMb)));
        const manifest: SnapshotManifest = {
          version: MANIFEST_VERSION,
          id,
          name: req.name,
          createdAt,
          // Secret names only: their values never reach a manifest.
          sandbox: { id: row.id, name: row.name, address: row.address, ...specOf(row) },
          host: fingerprint,
          ...(gpuNeeds ? { gpu: { ...gpuNeeds, uuids: gpuState.uuids } } : {}),
          sizeBytes,
          frozenMs,
          encrypted: key !== undefined,
          execs: await this.deps.ledger.rows(row.id),
          files,
        };
        await writeFile(join(partial, MANIFEST), JSON.stringify(manifest, null, 2));
        // Durable before visible: every byte on disk, then one rename.
        await host.run('sync', ['--file-system', partial]);
        await rename(partial, this.path(id));
        await host.run('sync', [this.deps.dir]);
        const snap: SnapshotRow = {
          id,
          name: req.name,
          sandbox_id: row.id,
          sandbox_name: row.name,
          size_bytes: sizeBytes,
          leave_running: leaveRunning ? 1 : 0,
          created_at: createdAt,
          owner_id: row.owner_id,
        };
        await db.insertInto('snapshots').values(snap).execute();
        if (!leaveRunning)
          await sandboxes.setStatus(row.id, 'snapshotted', `stopped into snapshot "${req.name}"; resume with \`bothub snapshot restore ${req.name}\``, {
            snapshot_id: id,
            started_at: null,
          });
        return toSnapshot(snap, manifest);
      } catch (e) {
        await rm(partial, { recursive: true, force: true });
        await rm(this.path(id), { recursive: true, force: true });
        throw e;
      }
    });
  }

  /** Removes every snapshot an owner has (a user removed with --force). */
  async removeAllOf(ownerId: string): Promise<void> {
    for (const row of await this.deps.db.selectFrom('snapshots').selectAll().where('owner_id', '=', ownerId).execute()) {
      await this.deps.db.deleteFrom('snapshots').where('id', '=', row.id).execute();
      await rm(this.path(row.id), { recursive: true, force: true });
    }
  }

  async delete(name: string, actor: Actor): Promise<void> {
    const row = await this.row(name, actor);
    const holder = await this.deps.db.selectFrom('sandboxes').select(['name', 'status']).where('snapshot_id', '=', row.id).where('status', '=', 'snapshotted').executeTakeFirst();
    if (holder) throw new BothubError('IN_USE', `sandbox "${holder.name}" is stopped in snapshot "${name}"; restore it (\`bothub snapshot restore ${name}\`) or destroy it first`);
    await this.deps.db.deleteFrom('snapshots').where('id', '=', row.id).execute();
    await rm(this.path(row.id), { recursive: true, force: true });
  }

  /** Restores the snapshot's own sandbox, or branches a new one named `name`. */
  async restore(snapName: string, req: { name?: string }, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    const row = await this.row(snapName, actor);
    const manifest = await this.manifest(row);
    const dir = this.path(row.id);
    op.onProgress?.({ step: 'verify' });
    await verifyTree(dir, manifest, op.signal);
    const verdict = checkCompatibility(manifest.host, await this.deps.fingerprint(), { gpu: manifest.gpu });
    if (!verdict.compatible) throw new BothubError('INVALID_STATE', `snapshot "${snapName}" cannot be restored on this host: ${verdict.reasons.join('; ')}`);
    return req.name ? this.branch(row, manifest, dir, req.name, actor, op) : this.resume(row, dir, actor, op);
  }

  private async resume(row: SnapshotRow, dir: string, actor: Actor, op: LongOperation): Promise<SandboxT> {
    const { sandboxes, checkpointer, runtime, db } = this.deps;
    const current = await db.selectFrom('sandboxes').selectAll().where('id', '=', row.sandbox_id).executeTakeFirst();
    if (!current)
      throw new BothubError(
        'NOT_FOUND',
        `sandbox "${row.sandbox_name}" of snapshot "${row.name}" no longer exists; branch a new one with \`bothub snapshot restore ${row.name} --name NEW\``,
      );
    return sandboxes.lock.run(current.id, async () => {
      const { row: sb, def } = await sandboxes.require(current.name, 'restore', actor);
      await runtime.release({ ...def, address: null }); // a dead container or a mount left by a stop; the network stays
      return sandboxes.claim(sb, async (claimed) => {
        await checkpointer.restore(sandboxes.definition(claimed), dir, { ...op, branch: false, key: this.deps.deriveKey(snapshotKeyPurpose(row.id)) });
        await this.deps.ledger.rewind(sb.id, ((await this.manifest(row)).execs ?? []) as ExecRow[]);
        return sandboxes.present(await sandboxes.setStatus(sb.id, 'running', null, { snapshot_id: null, started_at: new Date().toISOString() }));
      });
    });
  }

  private async branch(row: SnapshotRow, manifest: SnapshotManifest, dir: string, name: string, actor: Actor, op: LongOperation): Promise<SandboxT> {
    const { sandboxes, checkpointer, runtime } = this.deps;
    validateName('sandbox', name);
    // The original's identity stays behind: the branch gets its own id, name and address.
    const { id: _id, name: _name, address: _address, ...spec } = manifest.sandbox;
    const gpus = spec.gpus ?? 0; // manifests from before GPUs have no count
    // Through the one quota rule, like every new sandbox: a branch is a sandbox more, with the same limits.
    const record = await sandboxes.insert(
      newSandboxRow({
        ...spec,
        gpus,
        diskMb: spec.diskMb ?? null, // manifests from before disk limits: as unlimited as their sandbox was
        name,
        // The branch belongs to whoever branched it (a user sees only their own snapshots anyway).
        ownerId: actor.admin && row.owner_id ? row.owner_id : actor.id,
      }),
      // The snapshot's own GPUs when free (no remapping), else others of the model.
      gpus ? { request: { kind: 'count', count: gpus }, prefer: manifest.gpu?.uuids } : undefined,
    );
    return sandboxes.lock.run(record.id, async () => {
      const def = sandboxes.definition(record);
      try {
        await checkpointer.restore(def, dir, { ...op, branch: true, key: this.deps.deriveKey(snapshotKeyPurpose(row.id)) });
        await this.deps.ledger.copyInto(record.id, (manifest.execs ?? []) as ExecRow[]);
      } catch (e) {
        await runtime.destroy(def).catch(() => undefined);
        await sandboxes.forget(record);
        throw e;
      }
      return sandboxes.present(await sandboxes.setStatus(record.id, 'running', null, { started_at: new Date().toISOString() }));
    });
  }
}
