import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { SandboxT } from '../../api/index.js';
import { BothubError, checkCompatibility, validateName, type Actor, type GpuRequest, type SandboxSpec } from '../../core/index.js';
import { copyTree, MANIFEST, StepError, type CopyResult, type ImageStore, type LongOperation, type SnapshotManifest } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { ExecRow, SandboxRow, SnapshotRow } from '../db/tables.js';
import type { FleetPort } from '../services/fleet-port.js';
import { toExecRecord } from '../services/exec-ledger.js';
import { LOCAL, newSandboxRow, type SandboxService } from '../services/sandbox-service.js';
import type { SnapshotChunks } from '../services/snapshot-chunks.js';
import { ownSandboxGone } from '../services/snapshot-service.js';
import { chunkSide, resuming, shipChunks } from './chunk-shipping.js';
import type { HostEndpoint, HostService } from './host-service.js';
import { shipImage } from './image-shipping.js';
import { ownerOf } from './host-snapshots.js';
import { incomingDir, travellingSpec, type TravellingSpec } from './import-service.js';
import { noRoomOn } from './placement.js';
import { checkFilesOn, damagedError } from './store-fetch.js';
import { chunksIn, storeBetween, throughStore } from './store-move.js';

export interface KeptSnapshotCopyDeps {
  db: Db;
  hosts: HostService;
  sandboxes: SandboxService;
  /** The control plane's chunk store: in S3 (BOTHUB_STORE) the hosts send the chunks through it themselves. */
  chunks: SnapshotChunks;
  images: ImageStore;
  /** A restored sandbox's old copy goes from the host it was on (as a move's source does once the move is done). */
  removeFrom: (row: SandboxRow, host: HostEndpoint) => Promise<void>;
  /** The scheduler: where a new sandbox of this owner goes (a rented host only within their price limit). */
  place: FleetPort['place'];
  log: Logger;
}

/** Room a restore takes on the target's disk, per byte of the snapshot's files: the files copied, then the sandbox they become. */
const DISK_PER_BYTE = 2;

const gpuRequest = (spec: Pick<SandboxSpec, 'gpus'>): GpuRequest | undefined => (spec.gpus ? { kind: 'count', count: spec.gpus } : undefined);
const mib = (bytes: number) => `${Math.ceil(bytes / 2 ** 20)} MiB`;
const firstLine = (e: unknown) => ((e as Error).message ?? String(e)).split('\n')[0]!;

/**
 * `bothub snapshot restore SNAP --host B` of a snapshot that host A's agent
 * keeps (several daemons as control planes): the snapshot's files are copied
 * from A to B the way a move copies a sandbox's state (through S3 with
 * presigned URLs when BOTHUB_STORE is set and both hosts have curl: A uploads
 * the chunks S3 lacks, B downloads those its store lacks; else only the
 * chunks B's store lacks, over SSH through this machine), every file is
 * checked on B against the manifest, and B's agent restores them.
 *
 * The snapshot stays kept on A alone (one record, one place: deleting it,
 * its quota and `keptOn` mean what they did); the restored sandbox lives on
 * B; what was copied to B goes once the sandbox runs there, or when the
 * restore fails or is aborted — once, in one `finally`. Chunks uploaded to
 * S3 for it go too, unless a snapshot or cold image there holds them.
 */
export class KeptSnapshotCopy {
  constructor(private readonly deps: KeptSnapshotCopyDeps) {}

  async restore(snap: SnapshotRow, req: { name?: string; host: string }, actor: Actor, op: LongOperation): Promise<SandboxT> {
    const { hosts, sandboxes, db } = this.deps;
    if (req.host === LOCAL)
      throw new BothubError(
        'INVALID_INPUT',
        `snapshot "${snap.name}" is kept on host "${snap.host}", and this daemon runs no sandbox on its own machine (a control plane only); name a fleet host in \`host\` (\`GET /api/v1/hosts\`)`,
      );
    // Whether it answers, before anything of it is opened (its keys) or asked.
    if ((await hosts.get(req.host)).status !== 'reachable')
      throw new BothubError('UNAVAILABLE', `host "${req.host}" does not answer; check it (\`POST /api/v1/hosts/${req.host}/check\`) or name another host`);
    const [src, dst] = await Promise.all([hosts.endpoint(snap.host), hosts.endpoint(req.host)]);
    op.onProgress?.({ step: 'verify' });
    const manifest = await this.manifestOn(src, snap, op.signal);
    if (manifest.encrypted)
      throw new BothubError('INVALID_STATE', `snapshot "${snap.name}" is encrypted (its sandbox held secrets); it can be restored on host "${snap.host}" only`);
    // Before anything is copied or recorded: the gate moves pass, then room.
    const verdict = checkCompatibility(manifest.host, dst.fingerprint, { gpu: manifest.gpu });
    if (!verdict.compatible) throw new BothubError('INVALID_STATE', `snapshot "${snap.name}" cannot be restored on host "${req.host}": ${verdict.reasons.join('; ')}`);
    const { id: _id, address: _address, secrets: _secrets, name: _name, ...spec } = manifest.sandbox;

    if (req.name) {
      const name = validateName('sandbox', req.name);
      await this.assertRoom(dst, snap, manifest, spec, op.signal);
      // Recorded first (its quota checked, the name taken), forgotten if the restore fails.
      const record = await sandboxes.insert(newSandboxRow({ ...spec, diskMb: spec.diskMb ?? null, secrets: [], name, ownerId: ownerOf(snap, actor), host: req.host }));
      return sandboxes.lock.run(record.id, async () => {
        try {
          const there = await this.copyAndImport(src, dst, snap, manifest, record, op, (made) => sandboxes.follow(record.id, made, true));
          return sandboxes.present(there);
        } catch (e) {
          await sandboxes.forget(record);
          throw e;
        }
      });
    }

    // The snapshot's own sandbox runs again on B, under the same claim as any start; its old copy goes from where it was.
    const current = await db.selectFrom('sandboxes').selectAll().where('id', '=', snap.sandbox_id).executeTakeFirst();
    if (!current) throw ownSandboxGone(snap);
    if (current.host === req.host)
      throw new BothubError(
        'INVALID_STATE',
        `sandbox "${current.name}" is on host "${req.host}" already, and snapshot "${snap.name}" is kept on host "${snap.host}"; branch a new one there (\`POST /api/v1/snapshots/${snap.name}/restore {"name": "NEW", "host": "${req.host}"}\`)`,
      );
    await this.assertRoom(dst, snap, manifest, spec, op.signal);
    return sandboxes.lock.run(current.id, async () => {
      const { row } = await sandboxes.require(current.name, 'restore', actor);
      return sandboxes.claim({ ...row, host: req.host }, async () => {
        // The record moves with its address there (addresses are per host), then the old copy goes.
        const moved = await this.copyAndImport(src, dst, snap, manifest, row, op, async (made) => {
          await sandboxes.setStatus(row.id, made.status, made.statusReason, { host: req.host, address: made.address, snapshot_id: null });
          return sandboxes.follow(row.id, made, true);
        });
        await this.deps.removeFrom(row, await hosts.endpoint(row.host));
        return sandboxes.present(moved);
      });
    });
  }

  /**
   * Where a branch goes when no host is asked for: undefined while the host
   * keeping the snapshot has room for it (it is restored there, as always),
   * else the host the scheduler picks among those that have (LIMIT_EXCEEDED
   * in one line when none has).
   */
  async hostWithRoom(snap: SnapshotRow, ownerId: string | null): Promise<string | undefined> {
    if (!snap.spec_json) return undefined;
    const spec = JSON.parse(snap.spec_json) as TravellingSpec;
    const wanted = { cpus: spec.cpus, memoryMb: spec.memoryMb, gpus: gpuRequest(spec) };
    if (!(await noRoomOn(this.deps.db, this.deps.hosts, snap.host, wanted)).length) return undefined;
    const there = await this.deps.place({ ...wanted, ownerId });
    return there === snap.host ? undefined : there;
  }

  /** The manifest the keeping host's agent wrote: what the gate checks, and every file's chunks and sha256. */
  private async manifestOn(src: HostEndpoint, snap: SnapshotRow, signal?: AbortSignal): Promise<SnapshotManifest> {
    if (snap.status !== 'ready')
      throw new BothubError(
        'INVALID_STATE',
        `snapshot "${snap.name}" is still being saved on host "${snap.host}"; try again once it is ready (\`GET /api/v1/snapshots/${snap.name}\`)`,
      );
    const text = await src.exec
      .run('cat', ['--', join(src.dataDir, 'snapshots', snap.id, MANIFEST)], { allowFailure: true, signal })
      .catch((e: unknown) =>
        Promise.reject(
          new BothubError(
            'UNAVAILABLE',
            `host "${snap.host}", which keeps snapshot "${snap.name}", does not answer (${firstLine(e)}); check it (\`POST /api/v1/hosts/${snap.host}/check\`)`,
          ),
        ),
      );
    if (text.code !== 0)
      throw new BothubError(
        'INVALID_STATE',
        `host "${snap.host}" has no manifest of snapshot "${snap.name}" (${text.stderr.trim().split('\n')[0]}); check it with \`GET /api/v1/doctor/consistency\``,
      );
    try {
      return JSON.parse(text.stdout) as SnapshotManifest;
    } catch {
      throw damagedError(snap.name, 'its manifest on the host that keeps it is not JSON');
    }
  }

  /** The target has room for it: CPUs, memory and GPUs the records hold there against its fingerprint, and disk for the files and the sandbox. */
  private async assertRoom(
    dst: HostEndpoint,
    snap: SnapshotRow,
    manifest: SnapshotManifest,
    spec: Pick<SandboxSpec, 'cpus' | 'memoryMb' | 'gpus'>,
    signal?: AbortSignal,
  ): Promise<void> {
    const busy = await noRoomOn(this.deps.db, this.deps.hosts, dst.name, { ...spec, gpus: gpuRequest(spec) });
    if (busy.length)
      throw new BothubError(
        'LIMIT_EXCEEDED',
        `host "${dst.name}" has no room for a sandbox from snapshot "${snap.name}" (${busy.join(', ')}); free some there, or name another host`,
      );
    const need = DISK_PER_BYTE * Object.values(manifest.files).reduce((n, f) => n + f.size, 0);
    const df = await dst.exec.run('df', ['-P', '-B1', '--', dst.dataDir], { allowFailure: true, signal });
    const free = Number(df.stdout.split('\n')[1]?.split(/\s+/)[3]);
    if (df.code === 0 && free < need)
      throw new BothubError(
        'LIMIT_EXCEEDED',
        `host "${dst.name}" has ${mib(free)} free in ${dst.dataDir}, and restoring snapshot "${snap.name}" there takes about ${mib(need)}; free some space there, or name another host`,
      );
  }

  /** Its image, then its files, to the target; checked there; restored there by the agent. What was copied goes afterwards, whatever happened. */
  private async copyAndImport(
    src: HostEndpoint,
    dst: HostEndpoint,
    snap: SnapshotRow,
    manifest: SnapshotManifest,
    record: SandboxRow,
    op: LongOperation,
    /** The record follows what the agent made; if that fails, what it made goes. */
    adopt: (made: SandboxT) => Promise<SandboxRow>,
  ): Promise<SandboxRow> {
    const { chunks, images, log } = this.deps;
    op.onProgress?.({ step: 'image' });
    await shipImage(images, manifest.sandbox.image, dst, op, chunks).catch((e: Error) => Promise.reject(new StepError('image', firstLine(e), e)));
    const dir = randomBytes(6).toString('hex');
    const targetDir = join(incomingDir(dst.dataDir), dir);
    try {
      op.onProgress?.({ step: 'transfer' });
      const started = performance.now();
      const cancelled = () => new BothubError('ABORTED', `restoring snapshot "${snap.name}" on host "${dst.name}" was cancelled; nothing of it is left there`);
      const copied = await this.copy(src, dst, snap, manifest, targetDir, op).catch((e: unknown) => {
        if (op.signal?.aborted) throw cancelled();
        // A damaged snapshot says so as it is; anything else (a host that stopped answering, a full disk) is the copy's failure.
        throw e instanceof BothubError && e.code === 'INVALID_STATE'
          ? e
          : new StepError('transfer', `copying snapshot "${snap.name}" from host "${src.name}" to host "${dst.name}": ${firstLine(e)}`, e);
      });
      if (op.signal?.aborted) throw cancelled();
      log.info(
        { snapshot: snap.name, from: src.name, to: dst.name, bytes: copied.bytes, ms: Math.round(performance.now() - started) },
        'a kept snapshot was copied to another host',
      );
      op.onProgress?.({ step: 'restore' });
      const execs = ((manifest.execs ?? []) as ExecRow[]).map(toExecRecord);
      // No signal from here on: once the agent restores, it finishes, and the record follows what it made.
      const made = await dst.agent!.call('importSandbox', { body: { ...travellingSpec(record), dir, execs } }).catch((e: unknown) => {
        // Its refusals (a name, a quota) say what to do; anything else is said to be that host's, whose log tells more.
        throw e instanceof BothubError && e.code !== 'INTERNAL' ? e : new StepError('restore', `host "${dst.name}" could not restore snapshot "${snap.name}": ${firstLine(e)}`, e);
      });
      try {
        return await adopt(made);
      } catch (e) {
        await dst
          .agent!.call('destroySandbox', { params: { name: record.name } })
          .catch((err: unknown) => log.error({ err, sandbox: record.name, host: dst.name }, 'removing a restored sandbox no record follows failed'));
        throw e;
      }
    } finally {
      // The agent's import removes the directory once the sandbox runs; on a failure or an abort it goes here.
      await dst.exec.run('rm', ['-rf', '--', targetDir]).catch((err: unknown) => log.warn({ err, host: dst.name, dir: targetDir }, 'removing a copied snapshot failed'));
    }
  }

  /** The snapshot's files into `targetDir` on the target, each checked there against the manifest before CRIU sees it. */
  private async copy(src: HostEndpoint, dst: HostEndpoint, snap: SnapshotRow, manifest: SnapshotManifest, targetDir: string, op: LongOperation): Promise<CopyResult> {
    const { chunks, log } = this.deps;
    const { files } = manifest;
    const damaged = (problem: string) => damagedError(snap.name, problem);
    const [from, to] = [chunkSide(src)!, chunkSide(dst)!];
    if (Object.values(files).every((f) => f.chunks)) {
      const store = await storeBetween(chunks.store, src.exec, dst.exec, op.signal);
      // Through S3: the hosts themselves upload and download; fetchFromStore checks every file there.
      if (store)
        return throughStore(
          { chunks, store, from: src.exec, state: chunksIn(from.store, files), to: dst.exec, toStore: to.store, targetDir, what: { snapshot: snap.name }, damaged },
          op,
          log,
        );
      const sent = await resuming(() => shipChunks(from, files, to, targetDir, op), op, log);
      await checkFilesOn(dst.exec, targetDir, files, damaged, op.signal);
      return sent;
    }
    // Kept whole (a GPU snapshot): its files as they are, through this machine.
    const sent = await resuming(() => copyTree(src.exec, join(src.dataDir, 'snapshots', snap.id), dst.exec, targetDir, op), op, log);
    await checkFilesOn(dst.exec, targetDir, files, damaged, op.signal);
    return sent;
  }
}
