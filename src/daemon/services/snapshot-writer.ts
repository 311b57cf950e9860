import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotT } from '../../api/index.js';
import { gpuNeedsOf } from '../../core/index.js';
import { checksumTree, MANIFEST, MANIFEST_VERSION, openStaging, readGpuState, type LongOperation, type SandboxDefinition, type SnapshotManifest } from '../../runtime/index.js';
import type { SandboxRow, SnapshotRow } from '../db/tables.js';
import { LOCAL, specOf } from './sandbox-service.js';
import type { SnapshotChunks } from './snapshot-chunks.js';
import { ingestStaged, PARTIAL, treeBytes } from './snapshot-ingest.js';
import { stagingName, withPending, writePending, type Resumable } from './snapshot-resume.js';
import type { SnapshotServiceDeps } from './snapshot-service.js';
import type { StagedSnapshots } from './staged-snapshots.js';

/** `statusReason`: why a snapshot kept by a fleet host cannot be restored now (host-snapshots.ts). */
export function toSnapshot(row: SnapshotRow, manifest?: SnapshotManifest, uniqueBytes?: number, statusReason?: string): SnapshotT {
  return {
    id: row.id,
    name: row.name,
    sandbox: row.sandbox_name,
    sizeBytes: row.size_bytes,
    leaveRunning: row.leave_running === 1,
    createdAt: row.created_at,
    status: row.status,
    ...(uniqueBytes !== undefined ? { uniqueBytes } : {}),
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
    ...(row.host !== LOCAL ? { keptOn: row.host } : {}),
    ...(statusReason ? { statusReason } : {}),
  };
}

export /** A snapshot being taken: what both ways of writing one need. */
interface Taking {
  id: string;
  name: string;
  row: SandboxRow;
  def: SandboxDefinition;
  leaveRunning: boolean;
  createdAt: string;
}

/** Takes snapshots: staged and made durable behind the sandbox, or written whole (sealed, GPU). */
export class SnapshotWriter {
  constructor(
    private readonly deps: SnapshotServiceDeps,
    private readonly chunks: SnapshotChunks,
    /** Ingests under way, by snapshot id (shared with SnapshotService, which waits on them). */
    private readonly saving: Map<string, Promise<unknown>>,
    /** Staging areas of leave-running snapshots, lent to restores while the ingest runs. */
    private readonly staged: StagedSnapshots,
  ) {}

  /** What a manifest says besides its files: the same for both ways of writing one. */
  private async describe(t: Taking, frozenMs: number, gpuState: Awaited<ReturnType<typeof readGpuState>>, encrypted: boolean): Promise<Omit<SnapshotManifest, 'files' | 'sizeBytes'>> {
    const fingerprint = await this.deps.fingerprint();
    const gpuNeeds = gpuState && gpuNeedsOf(fingerprint.gpu, gpuState.uuids, Math.max(0, ...Object.values(gpuState.memoryMb)));
    return {
      version: MANIFEST_VERSION,
      id: t.id,
      name: t.name,
      createdAt: t.createdAt,
      // Secret names only: their values never reach a manifest.
      sandbox: { id: t.row.id, name: t.row.name, address: t.row.address, ...specOf(t.row) },
      host: fingerprint,
      ...(gpuNeeds ? { gpu: { ...gpuNeeds, uuids: gpuState.uuids } } : {}),
      frozenMs,
      encrypted,
      execs: await this.deps.ledger.rows(t.row.id),
    };
  }

  private rowOf(t: Taking, sizeBytes: number, status: SnapshotRow['status']): SnapshotRow {
    return {
      id: t.id,
      name: t.name,
      sandbox_id: t.row.id,
      sandbox_name: t.row.name,
      size_bytes: sizeBytes,
      leave_running: t.leaveRunning ? 1 : 0,
      created_at: t.createdAt,
      owner_id: t.row.owner_id,
      status,
      host: LOCAL,
      spec_json: null,
    };
  }

  private stopped(t: Taking) {
    return this.deps.sandboxes.setStatus(t.row.id, 'snapshotted', `stopped into snapshot "${t.name}"; resume with \`POST /api/v1/snapshots/${t.name}/restore\``, {
      snapshot_id: t.id,
      started_at: null,
    });
  }

  /**
   * The short freeze: CRIU dumps into a staging area (memory when it fits),
   * the sandbox runs again, and the durable copy is made behind it: a
   * leave-running snapshot is answered at once as 'saving'. A stopping one
   * (CRIU ends the processes with their TCP sockets still in repair mode, so
   * peers see nothing) waits for its copy; if the copy fails (a full disk)
   * the sandbox is restored from the staging area, running as it was.
   */
  async createStaged(t: Taking, op: LongOperation): Promise<SnapshotT> {
    const { db, checkpointer, runtime, host } = this.deps;
    const p = runtime.paths(t.def.id);
    const estimate = (await runtime.cgroup(t.def.id).memoryBytes()) + (await treeBytes(p.upper).catch(() => 0));
    const staging = withPending(await openStaging(host, { memoryRoot: this.deps.stagingDir, diskRoot: this.deps.dir }, stagingName(t.id, t.row.id), estimate, this.deps.stagingShare));
    let frozenMs: number;
    try {
      frozenMs = await checkpointer.checkpoint(t.def, staging.dir, { ...op, leaveRunning: t.leaveRunning });
    } catch (e) {
      await staging.release();
      throw e;
    }
    // Whatever fails from here on, a stopping snapshot's sandbox comes back from the staging area.
    const giveBack = async (err: unknown) => {
      await db.deleteFrom('snapshots').where('id', '=', t.id).execute();
      if (!t.leaveRunning) {
        this.deps.log.warn({ err, snapshot: t.name }, 'a stopping snapshot could not be made durable; restoring its sandbox from the staging area');
        await runtime.release({ ...t.def, address: null });
        await checkpointer.restore(t.def, staging.dir, { branch: false });
      }
    };
    let saving: Promise<SnapshotManifest>;
    let described: Omit<SnapshotManifest, 'files' | 'sizeBytes'>;
    let sizeBytes: number;
    try {
      sizeBytes = await treeBytes(staging.dir);
      await db.insertInto('snapshots').values(this.rowOf(t, sizeBytes, 'saving')).execute();
      described = await this.describe(t, frozenMs, undefined, false);
      // Answered before it is durable: a daemon crash meanwhile must not lose what the client was told of.
      if (t.leaveRunning) await writePending(staging, described);
      op.onProgress?.({ step: 'store' });
      // A leave-running snapshot's copy outlives the request: the client going away must not abort it.
      saving = ingestStaged({ db, host, chunks: this.chunks, dir: this.deps.dir }, staging, described, t.leaveRunning ? undefined : op.signal);
    } catch (e) {
      await giveBack(e).finally(staging.release);
      throw e;
    }
    this.saving.set(t.id, saving);
    const done = saving.finally(() => this.saving.delete(t.id));
    if (t.leaveRunning) {
      // Restores may read the dump from here until the ingest ends; the area goes when the last of them is done.
      this.behind(t.name, done, this.staged.open(t.id, staging, described));
      return toSnapshot(this.rowOf(t, sizeBytes, 'saving'), { ...described, files: {}, sizeBytes });
    }
    try {
      const manifest = await done;
      await this.stopped(t);
      return toSnapshot(this.rowOf(t, manifest.sizeBytes, 'ready'), manifest);
    } catch (e) {
      await giveBack(e);
      throw e;
    } finally {
      await staging.release();
    }
  }

  /** Finishes, behind start-up, the durable copy of a leave-running snapshot a daemon stop cut short (snapshot-resume.ts). */
  resume(id: string, r: Resumable): void {
    this.deps.log.warn({ snapshot: r.described.name }, 'finishing a snapshot a daemon stop cut short before it was durable');
    const saving = ingestStaged({ db: this.deps.db, host: this.deps.host, chunks: this.chunks, dir: this.deps.dir }, r.staging, r.described);
    this.saving.set(id, saving);
    this.behind(r.described.name, saving.finally(() => this.saving.delete(id)), this.staged.open(id, r.staging, r.described));
  }

  /**
   * A durable copy no request waits for: its failure is logged (the record is
   * gone already; a sandbox restored from the staging area meanwhile runs on),
   * and the ingest's reference on the staging area given back.
   */
  private behind(name: string, done: Promise<unknown>, release: () => Promise<void>): void {
    void done
      .catch((err: unknown) => this.deps.log.error({ err, snapshot: name }, 'a snapshot could not be made durable; it is gone, the sandbox runs on'))
      .then(release)
      .catch((err: unknown) => this.deps.log.error({ err, snapshot: name }, 'a staging area could not be released; the next start removes it'));
  }

  /**
   * With the store in S3 (which keeps the manifests too), a sealed or GPU
   * dump written whole is cut into chunks like a staged one, so that nothing
   * of it rests on this machine's disk alone: a sealed one's chunks are of
   * its ciphertext (fresh IVs: they deduplicate with nothing). The request waits.
   */
  private async wholeIntoStore(t: Taking, dump: string, described: Omit<SnapshotManifest, 'files' | 'sizeBytes'>, op: LongOperation): Promise<SnapshotT> {
    const { db, host } = this.deps;
    await db.insertInto('snapshots').values(this.rowOf(t, await treeBytes(dump), 'saving')).execute();
    op.onProgress?.({ step: 'store' });
    // Its failure forgets the record and what it wrote; the caller removes the dump.
    const manifest = await ingestStaged({ db, host, chunks: this.chunks, dir: this.deps.dir }, { dir: dump }, described, op.signal);
    await rm(dump, { recursive: true, force: true });
    if (!t.leaveRunning) await this.stopped(t);
    return toSnapshot(this.rowOf(t, manifest.sizeBytes, 'ready'), manifest);
  }

  /** Sealed and GPU snapshots: written whole into their directory while the request waits (as before the store). */
  async createWhole(t: Taking, key: Buffer | undefined, op: LongOperation): Promise<SnapshotT> {
    const { db, checkpointer, host } = this.deps;
    // Named with its sandbox: a crash recovery can give the processes a stopping snapshot ended back to it (snapshot-recovery.ts).
    const partial = join(this.deps.dir, `${PARTIAL}${t.id}.${t.row.id}`);
    try {
      const frozenMs = await checkpointer.checkpoint(t.def, partial, { ...op, leaveRunning: t.leaveRunning, key });
      if (this.chunks.manifests) return await this.wholeIntoStore(t, partial, await this.describe(t, frozenMs, await readGpuState(partial, host), key !== undefined), op);
      op.onProgress?.({ step: 'checksums' });
      const files = await checksumTree(host, partial, op.signal);
      const sizeBytes = Object.values(files).reduce((n, f) => n + f.size, 0);
      const manifest: SnapshotManifest = { ...(await this.describe(t, frozenMs, await readGpuState(partial, host), key !== undefined)), sizeBytes, files };
      await writeFile(join(partial, MANIFEST), JSON.stringify(manifest, null, 2));
      // Durable before visible: every byte on disk, then one rename.
      await host.run('sync', ['--file-system', partial]);
      await rename(partial, join(this.deps.dir, t.id));
      await host.run('sync', [this.deps.dir]);
      const snap = this.rowOf(t, sizeBytes, 'ready');
      await db.insertInto('snapshots').values(snap).execute();
      if (!t.leaveRunning) await this.stopped(t);
      return toSnapshot(snap, manifest);
    } catch (e) {
      await rm(partial, { recursive: true, force: true });
      await rm(join(this.deps.dir, t.id), { recursive: true, force: true });
      throw e;
    }
  }
}
