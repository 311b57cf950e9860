import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ExecRecordT, MoveResultT, SandboxT } from '../../api/index.js';
import { assertAllowed, BothubError, checkCompatibility, gpuNeedsOf, SYSTEM, validateName, type Actor } from '../../core/index.js';
import { LocalHost } from '../../hostexec/index.js';
import { copyTree, StepError, type CopyResult, type ImageStore, type LongOperation, type SandboxRuntime } from '../../runtime/index.js';
import type { ExecRow } from '../db/tables.js';
import type { SandboxRow } from '../db/tables.js';
import { toExecRecord, type ExecLedger } from '../services/exec-ledger.js';
import type { HostEndpoint, HostService } from './host-service.js';
import { newSandboxRow, type SandboxService } from '../services/sandbox-service.js';
import type { SnapshotService } from '../services/snapshot-service.js';
import type { ThermalService } from '../services/thermal-service.js';
import { incomingDir, travellingSpec, type ImportService } from './import-service.js';
import { shipImage } from './image-shipping.js';
import { chunkDirOf, chunkSide, resuming, shipChunks, shipColdImage, type ChunkShipResult } from './chunk-shipping.js';
import type { MoveJournal } from './move-journal.js';
import { fetchFromStore, presigningFor } from './store-fetch.js';
import { moveThroughStore } from './store-move.js';

export interface MoveDeps {
  sandboxes: SandboxService;
  snapshots: SnapshotService;
  thermal: ThermalService;
  hosts: HostService;
  imports: ImportService;
  runtime: SandboxRuntime;
  ledger: ExecLedger;
  journal: MoveJournal;
  images: ImageStore;
  /** Runs `true` in a local sandbox: the check that it runs. */
  execLocal: (name: string) => Promise<number>;
  log: Logger;
}

const ms = (since: number) => Math.round(performance.now() - since);

/** Where a frozen sandbox's state is, and its ledger. */
interface Frozen {
  dir: string;
  execs: ExecRecordT[];
}

/**
 * Moves a running sandbox between hosts: checkpoint on its host (cold), copy
 * the state to the target (checksummed, resumed after a dropped connection),
 * restore there, check it runs, and only then remove it from the source. If
 * any step fails, the copy on the target goes and the sandbox wakes on the
 * source: it is running there again with everything it had.
 */
export class MoveService {
  /** Moves this daemon is running now: their journal rows are not a crash's to settle. */
  readonly inFlight = new Set<string>();

  constructor(private readonly deps: MoveDeps) {}

  /** Where each move's phase is written (read by the start-up recovery). */
  get journal(): MoveJournal {
    return this.deps.journal;
  }

  async move(name: string, to: string, actor: Actor, op: LongOperation = {}): Promise<MoveResultT> {
    const { sandboxes, hosts } = this.deps;
    const row = await sandboxes.row(name, actor);
    if (row.host === to) throw new BothubError('INVALID_INPUT', `sandbox "${name}" is on host "${to}" already`);
    assertAllowed(name, row.status, 'move');
    if (sandboxes.holdsSecrets(row))
      throw new BothubError('INVALID_STATE', `sandbox "${name}" holds secrets, whose values never leave the control plane's machine; it cannot move for now`);
    if (row.network === 'peers') throw new BothubError('INVALID_STATE', `sandbox "${name}" is on a peers network, which joins sandboxes of one machine; it cannot move`);
    const [src, dst] = await Promise.all([hosts.endpoint(row.host), hosts.endpoint(to)]);
    if (!dst.reachable) throw new BothubError('UNAVAILABLE', `host "${to}" is unreachable; see \`GET /api/v1/hosts\``);
    // Its GPU memory in use is known only once checkpointed; the model, count and versions are checked now.
    const gpu = gpuNeedsOf(src.fingerprint.gpu, JSON.parse(row.gpu_uuids_json) as string[], 0);
    const verdict = checkCompatibility(src.fingerprint, dst.fingerprint, { gpu });
    if (!verdict.compatible) throw new BothubError('INVALID_STATE', `sandbox "${name}" cannot move to host "${to}": ${verdict.reasons.join('; ')}`);

    const started = performance.now();
    // Its image first, while it still runs: only the layers the target lacks.
    op.onProgress?.({ step: 'image' });
    await shipImage(this.deps.images, row.image, dst, op, this.deps.snapshots.chunks).catch((e: Error) => Promise.reject(new StepError('image', e.message, e)));
    const moveId = randomBytes(6).toString('hex');
    const targetDir = join(incomingDir(dst.dataDir), moveId);
    const { journal } = this.deps;
    // Journalled before anything happens: a crash from here on is finished or undone at the next start (move-recovery.ts).
    this.inFlight.add(moveId);
    try {
      await journal.begin({ id: moveId, sandbox_id: row.id, from_host: row.host, from_address: row.address, to_host: to, target_dir: targetDir });
      let step = 'snapshot';
      op.onProgress?.({ step });
      let frozen: Frozen;
      try {
        frozen = await this.freeze(row, src, to);
      } catch (e) {
        await sandboxes.setStatus(row.id, 'running', null).catch(() => undefined);
        await journal.end(moveId);
        throw new StepError(step, (e as Error).message, e);
      }
      const snapshotMs = ms(started);
      let imported = false;
      let copied: CopyResult;
      let there: SandboxT;
      let transferMs: number;
      let restoreMs: number;
      try {
        step = 'transfer';
        await journal.advance(moveId, 'transferring');
        const t = performance.now();
        // BOTHUB_STORE: the hosts themselves write and read the state through presigned URLs.
        // Else only the chunks the target's store lacks, when the cold image is in the source's store.
        const store = this.deps.snapshots.chunks.store;
        copied =
          (await moveThroughStore(this.deps.snapshots.chunks, src.exec, chunkSide(src, store)?.store, frozen.dir, dst.exec, chunkDirOf(dst, store), targetDir, name, op, this.deps.log)) ??
          (await this.transfer(() => shipColdImage(src.exec, chunkSide(src, store), frozen.dir, dst.exec, chunkSide(dst, store), targetDir, op), op));
        transferMs = ms(t);
        step = 'restore';
        op.onProgress?.({ step });
        const r = performance.now();
        await journal.advance(moveId, 'importing');
        there = await this.restoreOn(dst, row, moveId, frozen.execs, op);
        imported = true;
        step = 'verify';
        op.onProgress?.({ step });
        const code = dst.agent ? (await dst.agent.call('exec', { params: { name }, body: { command: ['true'], timeoutMs: 10_000 } })).exitCode : await this.deps.execLocal(name);
        // 127: a minimal image without `true`; its init still ran the command, which is what is checked.
        if (code !== 0 && code !== 127) throw new BothubError('RUNTIME_FAILED', `a command in the restored sandbox exited with ${code}`);
        restoreMs = ms(r);
        await journal.advance(moveId, 'committing');
      } catch (e) {
        await this.rollback(row, src, dst, targetDir, imported).catch((err: Error) => {
          this.deps.log.error({ err, sandbox: name }, 'rolling back a failed move failed');
          throw new StepError(step, `${(e as Error).message}; and putting it back on host "${src.name}" failed too: ${err.message}`, e);
        });
        await journal.end(moveId);
        throw e instanceof StepError ? e : new StepError(step, (e as Error).message, e);
      }
      // It runs on the target and answered: the move is done, whatever cleaning up the source costs.
      op.onProgress?.({ step: 'cleanup' });
      const moved = await this.commit(row, src, to, there);
      await journal.end(moveId);
      const chunks = 'chunksSent' in copied ? { chunksSent: (copied as ChunkShipResult).chunksSent, chunksThere: (copied as ChunkShipResult).chunksThere } : {};
      this.deps.log.info({ sandbox: name, from: src.name, to, bytes: copied.bytes, ...chunks, snapshotMs, transferMs, restoreMs }, 'sandbox moved');
      return {
        sandbox: await sandboxes.present(moved),
        from: src.name,
        to,
        bytes: copied.bytes + copied.resumedBytes,
        resumedBytes: copied.resumedBytes,
        snapshotMs,
        transferMs,
        restoreMs,
        totalMs: ms(started),
      };
    } finally {
      this.inFlight.delete(moveId);
    }
  }

  /** The copy on the target runs: the source's goes, and the record follows it there. */
  async commit(row: SandboxRow, src: HostEndpoint, to: string, there: Pick<SandboxT, 'address' | 'startedAt' | 'gpus' | 'thermal'>): Promise<SandboxRow> {
    await this.removeSource(row, src);
    return this.deps.sandboxes.setStatus(row.id, 'running', null, {
      host: to,
      address: there.address,
      thermal: there.thermal,
      started_at: there.startedAt,
      gpu_uuids_json: JSON.stringify(there.gpus),
      // Arriving is activity: a rented target's idle clock starts now, not from the sandbox's last use at the source.
      last_active_at: new Date().toISOString(),
    });
  }

  /**
   * `bothub snapshot restore SNAP --host H`: the snapshot (kept on this
   * machine) is copied to the host and restored there by its agent: as a new
   * sandbox (a branch named `name`), or as the snapshot's own stopped sandbox,
   * which then lives there.
   */
  async restoreSnapshotOn(snapName: string, req: { name?: string; host: string }, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    const { snapshots, sandboxes, hosts, runtime, ledger } = this.deps;
    const snap = await snapshots.readyRow(snapName, actor, op);
    const manifest = await snapshots.manifest(snap);
    if (manifest.encrypted) throw new BothubError('INVALID_STATE', `snapshot "${snapName}" is encrypted (its sandbox held secrets); it can be restored on this machine only`);
    const dst = await hosts.endpoint(req.host);
    const agent = dst.agent;
    if (!agent) throw new BothubError('INTERNAL', 'a restore here does not go through the fleet');
    if (!dst.reachable) throw new BothubError('UNAVAILABLE', `host "${req.host}" is unreachable; see \`GET /api/v1/hosts\``);
    const verdict = checkCompatibility(manifest.host, dst.fingerprint, { gpu: manifest.gpu });
    if (!verdict.compatible) throw new BothubError('INVALID_STATE', `snapshot "${snapName}" cannot be restored on host "${req.host}": ${verdict.reasons.join('; ')}`);
    op.onProgress?.({ step: 'verify' });
    await snapshots.verify(snap, manifest, op.signal);

    const { id: _id, address: _address, secrets: _secrets, ...spec } = manifest.sandbox;
    const own = req.name ? undefined : await sandboxes.row(snap.sandbox_name, actor).catch(() => undefined);
    if (!req.name) {
      if (!own || own.id !== manifest.sandbox.id)
        throw new BothubError('NOT_FOUND', `sandbox "${snap.sandbox_name}" of snapshot "${snapName}" no longer exists; branch one instead (\`POST /api/v1/snapshots/${snapName}/restore {"name": "NEW"}\`)`);
      assertAllowed(own.name, own.status, 'restore');
    }
    const name = req.name ? validateName('sandbox', req.name) : own!.name;
    const ownerId = actor.admin && snap.owner_id ? snap.owner_id : actor.id;
    // A branch is a new record (its quota checked as it is inserted); the snapshot's own sandbox claims its place to run again.
    const record = own ?? (await sandboxes.insert(newSandboxRow({ ...spec, diskMb: spec.diskMb ?? null, secrets: [], name, ownerId, host: req.host })));
    const restoreThere = async () => {
      const moveId = randomBytes(6).toString('hex');
      const targetDir = join(incomingDir(dst.dataDir), moveId);
      try {
        op.onProgress?.({ step: 'image' });
        await shipImage(this.deps.images, spec.image, dst, op, snapshots.chunks);
        const fromHere = chunkSide({ exec: new LocalHost(), dataDir: '' }, snapshots.chunks.store);
        const toThere = chunkSide(dst, snapshots.chunks.store);
        const presigning = await presigningFor(snapshots.chunks.store, manifest, dst.exec, op.signal);
        if (presigning) {
          // BOTHUB_STORE: the host reads the chunks from S3 itself, through presigned URLs; no byte passes through here.
          await fetchFromStore(presigning, manifest, dst.exec, targetDir, op, { log: this.deps.log, targetStore: chunkDirOf(dst, snapshots.chunks.store) });
        } else if (fromHere && toThere && Object.values(manifest.files).every((f) => f.chunks)) {
          // Only the chunks the host's store lacks; the files are put together there, every chunk checked.
          await this.transfer(() => shipChunks(fromHere, manifest.files, toThere, targetDir, op), op);
        } else {
          // The snapshot's files, put together here (every chunk checked as it is read), and sent whole.
          const source = await snapshots.materialize(snap, manifest, op);
          await this.transfer(() => copyTree(new LocalHost(), source.dir, dst.exec, targetDir, op), op).finally(source.release);
        }
        op.onProgress?.({ step: 'restore' });
        const execs = ((manifest.execs ?? []) as ExecRow[]).map(toExecRecord);
        const there = await agent.call('importSandbox', { body: { ...travellingSpec({ ...record, name }), dir: moveId, execs } });
        if (own) {
          // It lives there now: what it held here (network, files) goes.
          await runtime.destroy(sandboxes.definition(own)).catch((err) => this.deps.log.warn({ err, sandbox: name }, 'releasing the restored sandbox here failed'));
          await ledger.forget(own.id);
          await sandboxes.setStatus(own.id, 'running', null, { host: req.host, snapshot_id: null });
        }
        return sandboxes.present(await sandboxes.follow(record.id, there, true));
      } catch (e) {
        await dst.exec.run('rm', ['-rf', '--', targetDir]).catch(() => undefined);
        if (!own) await sandboxes.forget(record);
        throw e;
      }
    };
    return own ? sandboxes.claim({ ...own, host: req.host }, restoreThere) : restoreThere();
  }

  /** Checkpoints it where it is (cold), marked moving so nothing wakes it meanwhile. */
  private async freeze(row: SandboxRow, src: HostEndpoint, to: string): Promise<Frozen> {
    const { sandboxes, thermal, ledger } = this.deps;
    if (!src.agent) {
      await thermal.freeze(row, `moving to host "${to}"`, 'moving');
      return { dir: thermal.coldDir(row.id), execs: (await ledger.rows(row.id)).map(toExecRecord) };
    }
    await sandboxes.setStatus(row.id, 'moving', null);
    const there = await src.agent.call('freezeSandbox', { params: { name: row.name } });
    const execs = await src.agent.call('listExecs', { params: { name: row.name } });
    return { dir: join(src.dataDir, 'cold', there.id), execs };
  }

  /** Copies the state, resuming after a dropped connection. */
  private transfer<T extends CopyResult>(copy: () => Promise<T>, op: LongOperation): Promise<T> {
    return resuming(copy, op, this.deps.log);
  }

  private async restoreOn(dst: HostEndpoint, row: SandboxRow, moveId: string, execs: ExecRecordT[], op: LongOperation): Promise<SandboxT> {
    if (dst.agent) return dst.agent.call('importSandbox', { body: { ...travellingSpec(row), dir: moveId, execs } });
    const local = await this.deps.imports.adoptInto(row, moveId, execs, op);
    return this.deps.sandboxes.present(local);
  }

  /** The source's copy goes; the sandbox runs on the target now. */
  async removeSource(row: SandboxRow, src: HostEndpoint): Promise<void> {
    const { sandboxes, runtime, ledger, thermal } = this.deps;
    try {
      if (src.agent) {
        await src.agent.call('destroySandbox', { params: { name: row.name } });
      } else {
        await thermal.discard(row.id);
        await runtime.destroy(sandboxes.definition(row));
        await ledger.forget(row.id);
      }
    } catch (err) {
      // The move itself succeeded; what is left on the source is only disk.
      this.deps.log.error({ err, sandbox: row.name, host: src.name }, 'removing a moved sandbox from its old host failed');
    }
  }

  /** The target's copy goes, and the sandbox wakes where it was. */
  async rollback(row: SandboxRow, src: HostEndpoint, dst: HostEndpoint, targetDir: string, imported: boolean): Promise<void> {
    const { sandboxes, thermal, log } = this.deps;
    const quietly = (what: string, p: Promise<unknown>) => p.catch((err) => log.warn({ err, sandbox: row.name, what }, 'cleanup after a failed move'));
    if (imported && dst.agent) await quietly('remove the copy on the target', dst.agent.call('destroySandbox', { params: { name: row.name } }));
    await quietly('remove the transferred state', dst.exec.run('rm', ['-rf', '--', targetDir]));
    await sandboxes.setStatus(row.id, 'running', null, { host: src.name });
    if (src.agent) {
      const there = await src.agent.call('resumeSandbox', { params: { name: row.name } });
      await sandboxes.follow(row.id, there);
    } else {
      await thermal.wake(await sandboxes.row(row.name, SYSTEM));
    }
  }
}
