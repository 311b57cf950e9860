import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SandboxT, SnapshotT } from '../../api/index.js';
import { BothubError, canSee, checkCompatibility, notFound, validateName, type Actor, type HostFingerprint } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { clearStaging, MANIFEST, SNAPSHOT_PARTS, verifyTree, type Checkpointer, type LazyTail, type LongOperation, type SandboxRuntime, type SnapshotManifest } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { ExecRow, SandboxRow, SnapshotRow } from '../db/tables.js';
import type { ExecLedger } from './exec-ledger.js';
import type { LazyRestores } from './lazy-restores.js';
import { enforceSnapshotQuota } from './quota.js';
import { LOCAL, newSandboxRow, type SandboxService } from './sandbox-service.js';
import { SharedCopies, type Copy } from './shared-copies.js';
import { snapshotManifestKey, snapshotSubject } from './manifest-store.js';
import { localChunkBackend, type ChunkStoreBackend } from './chunk-store-backend.js';
import { materializeOnScratch, type ScratchCopy } from './scratch-copy.js';
import { SnapshotChunks } from './snapshot-chunks.js';
import { CHUNKS_DIR, PARTIAL } from './snapshot-ingest.js';
import { findResumable, type Described, type Resumable } from './snapshot-resume.js';
import { SnapshotWriter, toSnapshot, type Taking } from './snapshot-writer.js';
import type { SnapshotsElsewhere } from './snapshots-elsewhere.js';
import { StagedSnapshots } from './staged-snapshots.js';
import { SnapshotPins } from './snapshot-pins.js';

/** How long a delete waits for restores that are letting go of the snapshot before it answers IN_USE. */
const UNPIN_WAIT_MS = 2000;

export interface SnapshotServiceDeps {
  db: Db;
  /** Makes an image whole on this machine before a branch on it is restored here (images in the store: its layers may be elsewhere). */
  imageHere?: (image: string) => Promise<unknown>;
  host: Host;
  sandboxes: SandboxService;
  runtime: SandboxRuntime;
  checkpointer: Checkpointer;
  dir: string;
  /** Where dumps are staged in memory (tmpfs mounts), and restores unpacked. */
  stagingDir: string;
  /** The share of free memory a staging tmpfs may take (BOTHUB_SNAPSHOT_STAGING_SHARE). */
  stagingShare: number;
  fingerprint: () => Promise<HostFingerprint>;
  /** Keys for encrypted images, derived from the master key. */
  deriveKey: (purpose: string) => Buffer;
  ledger: ExecLedger;
  log: Logger;
  /** Restores run before their memory is read when it is enabled; the snapshot stays pinned until every page is in. */
  lazy?: LazyRestores;
  /** Where chunks are kept (BOTHUB_STORE); the snapshots directory's own chunk directory when absent. */
  backend?: ChunkStoreBackend;
  /** Snapshots fleet hosts' agents keep (control planes): only their records are here. */
  elsewhere?: SnapshotsElsewhere;
}

const snapshotKeyPurpose = (snapshotId: string) => `snapshot-images:${snapshotId}`;

export const nameTaken = (name: string) =>
  new BothubError('NAME_TAKEN', `a snapshot named "${name}" already exists; pick another name or delete it (\`DELETE /api/v1/snapshots/${name}\`)`);

/** A resume of a snapshot whose sandbox was destroyed since. */
export const ownSandboxGone = (row: SnapshotRow) =>
  new BothubError(
    'NOT_FOUND',
    `sandbox "${row.sandbox_name}" of snapshot "${row.name}" no longer exists; branch a new one (\`POST /api/v1/snapshots/${row.name}/restore {"name": "NEW"}\`)`,
  );

/** Takes a restored sandbox's images over: released at once, or (lazy) once every page is in. */
type Restored = (sandbox: SandboxRow, tail: LazyTail | undefined) => Promise<void>;

/**
 * Snapshots as users see them. CRIU dumps into a staging area in memory and
 * the sandbox runs again at once; the durable copy (chunks in the
 * deduplicated store, and a manifest directory written under a temporary
 * name, synced, then renamed) follows, and only then is the snapshot 'ready'.
 * A crash before that leaves a 'saving' record and temporary files, removed
 * at the next start. Sealed (encrypted) and GPU snapshots are written whole
 * into their directory, then (S3 store) cut into chunks: see README "Snapshot store".
 */
export class SnapshotService {
  readonly chunks: SnapshotChunks;
  /** Ingests under way, by snapshot id: a restore or delete of a 'saving' snapshot waits on it. */
  private readonly saving = new Map<string, Promise<unknown>>();
  /** Restores reading a snapshot: its chunks must stay until they are read. */
  private readonly pins = new SnapshotPins();
  /** Staging areas of leave-running snapshots still 'saving', lent to restores. */
  private readonly staged = new StagedSnapshots();

  private readonly writer: SnapshotWriter;
  /** Restores of one snapshot at the same time read one copy of its files. */
  private readonly copies = new SharedCopies();
  readonly backend: ChunkStoreBackend;

  constructor(private readonly deps: SnapshotServiceDeps) {
    this.backend = deps.backend ?? localChunkBackend(join(deps.dir, CHUNKS_DIR), deps.host);
    this.chunks = new SnapshotChunks(deps.db, this.backend.store, deps.log, this.backend.documents);
    this.writer = new SnapshotWriter(deps, this.chunks, this.saving, this.staged);
  }

  /** The directory that holds every snapshot's directory. */
  get dir(): string {
    return this.deps.dir;
  }

  /** Where a snapshot's files are (tests and tools look inside). */
  dirOf(id: string): string {
    return join(this.deps.dir, id);
  }

  /** Refuses a snapshot of this machine whose files are missing, extra or changed (verifyTree). */
  verify(row: Pick<SnapshotRow, 'id'>, manifest: SnapshotManifest, signal?: AbortSignal): Promise<void> {
    return verifyTree(this.deps.host, this.dirOf(row.id), manifest, signal, this.chunks.store);
  }

  /** Removes what a crash left: partial directories, and directories no record owns. */
  async init(): Promise<void> {
    const { db, dir, log } = this.deps;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Those a fleet host keeps have no files here.
    const rows = await db.selectFrom('snapshots').selectAll().where('host', '=', LOCAL).execute();
    const known = new Set(rows.map((r) => r.id));
    // A 'saving' snapshot's ingest died with the daemon: finished from its staging area when that
    // survived whole (a leave-running one was already answered), else it never became complete and is forgotten.
    const resumable = new Map<string, Resumable>();
    for (const row of rows.filter((r) => r.status !== 'ready')) {
      const found = await findResumable(this.deps.host, row, { stagingDir: this.deps.stagingDir, snapshotsDir: dir });
      if (found) {
        resumable.set(row.id, found);
        continue;
      }
      log.warn({ snapshot: row.name }, 'a snapshot was cut short before it was durable; forgetting it');
      await db.deleteFrom('snapshots').where('id', '=', row.id).execute();
      known.delete(row.id);
    }
    const keep = new Set([...resumable.values()].flatMap((r) => r.names));
    for (const name of await clearStaging(this.deps.host, this.deps.stagingDir, keep)) log.warn({ name }, 'removed a staging area a crash left');
    await mkdir(this.deps.stagingDir, { recursive: true, mode: 0o700 });
    await this.backend.init();
    for (const entry of await readdir(dir)) {
      if (entry === CHUNKS_DIR) continue;
      if (keep.has(entry)) continue;
      if (entry.startsWith(PARTIAL) || !known.has(entry)) {
        log.warn({ entry }, 'removing an unfinished snapshot directory');
        await rm(join(dir, entry), { recursive: true, force: true });
      }
    }
    for (const row of rows.filter((r) => known.has(r.id) && !resumable.has(r.id))) {
      // One whose manifest the store keeps is fetched from there when first needed (a fresh data dir: manifest-store.ts).
      if (!existsSync(join(this.dirOf(row.id), MANIFEST)) && !(await this.chunks.manifests?.recorded(snapshotManifestKey(row.id)))) {
        log.error({ snapshot: row.name }, 'snapshot directory is missing; forgetting the record');
        await db.transaction().execute(async (trx) => {
          await trx.deleteFrom('snapshots').where('id', '=', row.id).execute();
          await this.chunks.unreference(trx, row.id);
        });
      }
    }
    // References of records gone (a crash between deletes), then every chunk nothing references.
    await db.deleteFrom('snapshot_chunks').where('snapshot_id', 'not in', (eb) => eb.selectFrom('snapshots').select('id')).execute();
    // An object store that does not answer now must not keep the daemon from starting: the next collection sweeps.
    await this.chunks.collect().catch((err: unknown) => log.error({ err }, 'collecting unreferenced chunks failed; they stay until the next collection'));
    await this.chunks.manifests?.sweep().catch((err: unknown) => log.error({ err }, 'sweeping manifest objects failed; they stay until the next start'));
    // After the collection: the chunks the cut-short ingest wrote are stored again, not collected under it.
    for (const [id, r] of resumable) this.writer.resume(id, r);
  }

  async list(actor: Actor, sandbox?: string): Promise<SnapshotT[]> {
    let q = this.deps.db.selectFrom('snapshots').selectAll().orderBy('created_at');
    if (sandbox) q = q.where('sandbox_name', '=', sandbox);
    if (!actor.admin) q = q.where('owner_id', '=', actor.id);
    const found = await q.execute();
    const rows = this.deps.elsewhere ? await this.deps.elsewhere.settle(found) : found;
    const unique = await this.chunks.uniqueBytes();
    const why = (await this.deps.elsewhere?.reasons(rows)) ?? (() => undefined);
    // A snapshot kept whole (sealed, GPU, older than the store, or by a fleet host) holds all its bytes alone.
    return rows.map((r) => toSnapshot(r, undefined, r.status === 'ready' ? (unique.get(r.id) ?? r.size_bytes) : undefined, why(r)));
  }

  async row(name: string, actor: Actor): Promise<SnapshotRow> {
    const row = await this.deps.db.selectFrom('snapshots').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row || !canSee(actor, row.owner_id)) throw notFound('snapshot', name, 'see `GET /api/v1/snapshots`');
    return row;
  }

  /** From the data dir, else (a fresh one) from the store, checked against the checksum recorded for it. */
  async manifest(row: SnapshotRow): Promise<SnapshotManifest> {
    const path = join(this.dirOf(row.id), MANIFEST);
    const stored = await this.chunks.manifests?.read(snapshotManifestKey(row.id), path, snapshotSubject(row.name));
    return JSON.parse(stored?.toString('utf8') ?? (await readFile(path, 'utf8'))) as SnapshotManifest;
  }

  async get(name: string, actor: Actor): Promise<SnapshotT> {
    const row = await this.row(name, actor);
    if (row.host !== LOCAL) return this.elsewhereFor(row).get(row);
    return toSnapshot(row, row.status === 'ready' ? await this.manifest(row) : undefined);
  }

  async create(sandboxName: string, req: { name: string; leaveRunning?: boolean }, actor: Actor, op: LongOperation = {}): Promise<SnapshotT> {
    const { db, sandboxes } = this.deps;
    validateName('snapshot', req.name);
    const { row: sb } = await sandboxes.require(sandboxName, 'snapshot', actor);
    await enforceSnapshotQuota(db, sb.owner_id);
    return sandboxes.lock.run(sb.id, async () => {
      const { row, def } = await sandboxes.require(sandboxName, 'snapshot', actor);
      await this.deps.lazy?.settled(row.id, row.name); // memory still streaming in is not dumped half-read
      if (await db.selectFrom('snapshots').select('id').where('name', '=', req.name).executeTakeFirst()) throw nameTaken(req.name);
      if (row.host !== LOCAL) return this.elsewhereFor(row).create(row, { name: req.name, leaveRunning: req.leaveRunning }, op);
      const attached = sandboxes.attachedExecs(row.id);
      if (attached)
        throw new BothubError(
          'INVALID_STATE',
          `sandbox "${sandboxName}" has ${attached} command(s) attached to a client; a live exec connection cannot be checkpointed — wait for them to finish, then snapshot`,
        );

      const id = randomBytes(6).toString('hex');
      const leaveRunning = req.leaveRunning ?? false;
      // Memory of a sandbox with secrets holds their values: such snapshots are encrypted at rest.
      const key = sandboxes.holdsSecrets(row) ? this.deps.deriveKey(snapshotKeyPurpose(id)) : undefined;
      const taking: Taking = { id, name: req.name, row, def, leaveRunning, createdAt: new Date().toISOString() };
      return key || def.gpus.length ? this.writer.createWhole(taking, key, op) : this.writer.createStaged(taking, op);
    });
  }

  /** Removes every snapshot an owner has (a user removed with --force). */
  async removeAllOf(ownerId: string): Promise<void> {
    for (const row of await this.deps.db.selectFrom('snapshots').selectAll().where('owner_id', '=', ownerId).execute())
      await (row.host === LOCAL ? this.forget(row) : this.elsewhereFor(row).delete(row, true));
  }

  /** What keeps the snapshots of fleet hosts; a record of one with nothing to reach it is the daemon's own fault. */
  private elsewhereFor(of: { name: string; host: string }): SnapshotsElsewhere {
    if (!this.deps.elsewhere) throw new BothubError('INTERNAL', `"${of.name}" is on host "${of.host}", and this daemon reaches no fleet host's snapshots`);
    return this.deps.elsewhere;
  }

  /** The record and its references go in one transaction, then its directory, then the chunks nothing else uses. */
  private async forget(row: SnapshotRow): Promise<void> {
    await this.saving.get(row.id)?.catch(() => undefined);
    const hashes = await this.deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('snapshots').where('id', '=', row.id).execute();
      await this.chunks.manifests?.forget(trx, snapshotManifestKey(row.id));
      return this.chunks.unreference(trx, row.id);
    });
    await this.chunks.manifests?.remove(snapshotManifestKey(row.id));
    await rm(this.dirOf(row.id), { recursive: true, force: true });
    await this.chunks.collect(hashes);
  }

  async delete(name: string, actor: Actor): Promise<void> {
    const row = await this.row(name, actor);
    const holder = await this.deps.db.selectFrom('sandboxes').select(['name', 'status']).where('snapshot_id', '=', row.id).where('status', '=', 'snapshotted').executeTakeFirst();
    if (holder) throw new BothubError('IN_USE', `sandbox "${holder.name}" is stopped in snapshot "${name}"; restore it (\`POST /api/v1/snapshots/${name}/restore\`) or destroy it first`);
    if (row.host !== LOCAL) return this.elsewhereFor(row).delete(row);
    // Branches just destroyed let go within moments (their page daemons see their processes end).
    if (await this.pins.heldAfter(row.id, UNPIN_WAIT_MS))
      throw new BothubError('IN_USE', `snapshot "${name}" is being restored (a lazy restore reads it until every page of memory is in); delete it when the restore is done`);
    await this.forget(row);
  }

  /** Its record once durable: a 'saving' snapshot is waited for (its manifest is written last; a restore with no staging area to read waits too). */
  async readyRow(snapName: string, actor: Actor, op: LongOperation = {}): Promise<SnapshotRow> {
    const row = await this.row(snapName, actor);
    if (row.status === 'ready') return row;
    op.onProgress?.({ step: 'saving' });
    await this.saving.get(row.id)?.catch(() => undefined);
    const now = await this.row(snapName, actor).catch(() => undefined);
    if (now?.status !== 'ready')
      throw new BothubError('INVALID_STATE', `snapshot "${snapName}" could not be made durable and is gone; take another (\`POST /api/v1/sandboxes/${row.sandbox_name}/snapshots\`)`);
    return now;
  }

  /**
   * A directory CRIU can restore from: the snapshot's own when it is kept
   * whole, else its files put together from the store on a tmpfs (every chunk
   * checked as it is read; a damaged one fails here, before the sandbox is touched).
   */
  async materialize(row: SnapshotRow, manifest: SnapshotManifest, op: LongOperation): Promise<ScratchCopy> {
    const dir = this.dirOf(row.id);
    if (!Object.values(manifest.files).some((f) => f.chunks)) return { dir, release: async () => undefined };
    op.onProgress?.({ step: 'read' });
    // GPU state restores eagerly, and a sealed snapshot's chunks are ciphertext: both are put together whole.
    const lazy = this.lazy && !manifest.gpu && !manifest.encrypted ? { criuDir: SNAPSHOT_PARTS.criu } : undefined;
    return materializeOnScratch(this.deps.host, this.deps.stagingDir, manifest.files, dir, this.chunks.store, {
      lazy,
      signal: op.signal,
      damaged: (problem) =>
        new BothubError('INVALID_STATE', `snapshot "${row.name}" is damaged (${problem}); it cannot be restored — delete it (\`DELETE /api/v1/snapshots/${row.name}\`)`),
    });
  }

  /**
   * Restores the snapshot's own sandbox, or branches a new one named `name`.
   * A leave-running snapshot still 'saving' is complete in its staging area:
   * restored from there at once, with no wait for the durable copy and no
   * read from the store (staged-snapshots.ts). Otherwise from the durable copy.
   */
  async restore(snapName: string, req: { name?: string; host?: string }, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    const found = await this.row(snapName, actor);
    if (found.host !== LOCAL) return this.elsewhereFor(found).restore(found, req, actor, op);
    const staged = found.status === 'saving' ? this.staged.take(found.id) : undefined;
    let handedOver = false;
    let source: Copy | undefined = staged;
    let unpin = () => undefined as void;
    try {
      if (staged) op.onProgress?.({ step: 'staged' });
      const from = staged ? { row: found, manifest: staged.described, open: () => Promise.resolve(staged) } : await this.durable(snapName, actor, op);
      const verdict = checkCompatibility(from.manifest.host, await this.deps.fingerprint(), { gpu: from.manifest.gpu });
      if (!verdict.compatible) throw new BothubError('INVALID_STATE', `snapshot "${snapName}" cannot be restored on this host: ${verdict.reasons.join('; ')}`);
      unpin = this.pins.pin(from.row.id);
      source = await from.open();
      const release = source.release;
      const restored = async (sandbox: SandboxRow, tail: LazyTail | undefined) => {
        handedOver = true;
        const always = () => release().finally(unpin);
        if (tail && this.deps.lazy) void this.deps.lazy.follow(sandbox, tail, { onFailure: 'stopped', source: `snapshot "${from.row.name}"`, always });
        else await always();
      };
      const { row, manifest } = from;
      return await (req.name ? this.branch(row, manifest, source, req.name, actor, op, restored) : this.resume(row, manifest, source, actor, op, restored));
    } finally {
      if (!handedOver) await (source?.release() ?? Promise.resolve()).finally(unpin);
    }
  }

  /** The durable copy: waited for while 'saving', checked, and its files put together (one copy for restores at the same time). */
  private async durable(snapName: string, actor: Actor, op: LongOperation): Promise<{ row: SnapshotRow; manifest: SnapshotManifest; open: () => Promise<Copy> }> {
    const row = await this.readyRow(snapName, actor, op);
    const manifest = await this.manifest(row);
    op.onProgress?.({ step: 'verify' });
    await this.verify(row, manifest, op.signal);
    return { row, manifest, open: () => this.copies.take(row.id, () => this.materialize(row, manifest, op)) };
  }

  /** The names of staging areas restores still read from (not leftovers for `doctor --consistency`). */
  stagingInUse(): string[] {
    return this.staged.names();
  }

  private get lazy(): boolean {
    return this.deps.lazy?.enabled ?? false;
  }

  private async resume(row: SnapshotRow, manifest: Described, source: Copy, actor: Actor, op: LongOperation, restored: Restored): Promise<SandboxT> {
    const { sandboxes, checkpointer, runtime, db } = this.deps;
    const current = await db.selectFrom('sandboxes').selectAll().where('id', '=', row.sandbox_id).executeTakeFirst();
    if (!current) throw ownSandboxGone(row);
    return sandboxes.lock.run(current.id, async () => {
      const { row: sb, def } = await sandboxes.require(current.name, 'restore', actor);
      await runtime.release({ ...def, address: null }); // a dead container or a mount left by a stop; the network stays
      return sandboxes.claim(sb, async (claimed) => {
        const key = this.deps.deriveKey(snapshotKeyPurpose(row.id));
        const tail = await checkpointer.restore(sandboxes.definition(claimed), source.dir, { ...op, branch: false, key, lazy: this.lazy && !source.eager, pages: source.pages });
        await restored(sb, tail);
        await this.deps.ledger.rewind(sb.id, (manifest.execs ?? []) as ExecRow[]);
        return sandboxes.present(await sandboxes.setStatus(sb.id, 'running', null, { snapshot_id: null, started_at: new Date().toISOString() }));
      });
    });
  }

  private async branch(row: SnapshotRow, manifest: Described, source: Copy, name: string, actor: Actor, op: LongOperation, restored: Restored): Promise<SandboxT> {
    const { sandboxes, checkpointer, runtime } = this.deps;
    validateName('sandbox', name);
    // The original's identity stays behind: the branch gets its own id, name and address.
    const { id: _id, name: _name, address: _address, ...spec } = manifest.sandbox;
    const gpus = spec.gpus ?? 0; // manifests from before GPUs have no count
    await this.deps.imageHere?.(spec.image);
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
        const key = this.deps.deriveKey(snapshotKeyPurpose(row.id));
        await restored(record, await checkpointer.restore(def, source.dir, { ...op, branch: true, key, lazy: this.lazy && !source.eager, pages: source.pages }));
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
