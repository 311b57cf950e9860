import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { BothubError, remapPairs } from '../../core/index.js';
import { CommandError, type Host, type HostFiles } from '../../hostexec/index.js';
import { connectInit } from '../exec/client.js';
import { netnsName, removeSandboxNetwork } from '../network/netns.js';
import { mountOverlay, unmount } from '../overlay.js';
import { unmountLayer } from '../writable-layer.js';
import type { LongOperation } from '../progress.js';
import { containerId, type SandboxDefinition, type SandboxRuntime } from '../sandbox-runtime.js';
import { StepError } from '../step-error.js';
import { UndoStack } from '../undo-stack.js';
import { packLayer, unpackLayer } from './layer-archive.js';
import type { CudaHelper } from '../gpu/cuda-helper.js';
import { freezeGpuProcesses, thawGpuProcesses } from '../gpu/gpu-pipeline.js';
import { findGpuProcesses, gpuMemoryUsedMb, hostPidsOf } from '../gpu/gpu-processes.js';
import { mountScratch, openTree, sealTree } from './sealed-tree.js';
import { LAZY_GUARD, startLazyPages, type LazyTail } from './lazy-pages.js';
import type { LazyPageSource } from './page-server.js';

/** Inside a snapshot directory. */
export const SNAPSHOT_PARTS = { criu: 'criu', layer: 'fs/upper.tar', console: 'fs/console.log', execs: 'fs/execs', sealedMarker: 'sealed', gpu: 'gpu.json' } as const;

/** What a snapshot of a GPU sandbox says of its GPU state (in the clear: no process data). */
export interface GpuSnapshotState {
  /** The GPUs it held, in the order its processes see them. */
  uuids: string[];
  /** The processes whose CUDA state was checkpointed, by PID inside the sandbox. */
  processes: number[];
  /** Device memory they used, MiB per GPU UUID. */
  memoryMb: Record<string, number>;
}

export async function readGpuState(snapshotDir: string, host: HostFiles): Promise<GpuSnapshotState | undefined> {
  const text = await host.readTextFile(join(snapshotDir, SNAPSHOT_PARTS.gpu)).catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as GpuSnapshotState);
}

/** The CUDA checkpoint helper and nvidia-smi, for sandboxes that hold GPUs. */
export interface GpuTools {
  helper: CudaHelper | null;
  nvidiaSmi: string;
}

/** Whether a snapshot directory holds encrypted images (see sealed-tree.ts). */
export const isSealed = (dir: string, host: HostFiles) => host.exists(join(dir, SNAPSHOT_PARTS.sealedMarker));

export interface CheckpointOptions extends LongOperation {
  /** Keep the sandbox running after the dump (otherwise it ends up stopped, its network kept). */
  leaveRunning: boolean;
  /** Encrypt everything written (the sandbox holds secrets); the clear images stay on a tmpfs. */
  key?: Buffer;
}

export interface RestoreOptions extends LongOperation {
  /** A new sandbox from another's snapshot: new address, so TCP connections are restored closed. */
  branch: boolean;
  /** Opens an encrypted snapshot; ignored for a clear one. */
  key?: Buffer;
  /**
   * Restore memory lazily (CRIU lazy pages over userfaultfd): the sandbox runs
   * before its memory is read, and `restore` returns the tail that streams the
   * rest in. The snapshot directory must stay until its `pagesIn` settles.
   */
  lazy?: boolean;
  /** The images' tasks' pages are sparse and served from here (lazy-page-source.ts): only with `lazy`. */
  pages?: LazyPageSource;
}

async function dirBytes(host: HostFiles, dir: string): Promise<number> {
  let total = 0;
  for (const e of await host.readdir(dir).catch(() => [])) {
    if (e.kind === 'file') total += (await host.stat(join(dir, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Tries of runc pause before a snapshot is answered BUSY. */
const PAUSE_ATTEMPTS = 4;

/**
 * Checkpoints sandboxes with runc + CRIU and restores them. The sandbox is
 * frozen while its writable layer and its memory are captured, so files and
 * processes are from the same instant.
 */
export class Checkpointer {
  constructor(
    private readonly host: Host,
    private readonly runtime: SandboxRuntime,
    private readonly criu: string,
    private readonly log: Logger,
    private readonly gpu: GpuTools = { helper: null, nvidiaSmi: 'nvidia-smi' },
  ) {}

  private cuda(): CudaHelper {
    if (!this.gpu.helper)
      throw new BothubError(
        'RUNTIME_FAILED',
        'the CUDA checkpoint helper is not built (native/build/bothub-cuda-checkpoint); run `make -C native` with the CUDA toolkit installed',
      );
    return this.gpu.helper;
  }

  /**
   * runc under setpriv --pdeathsig: if the daemon dies mid-dump, runc and its
   * CRIU die with it instead of finishing into a directory nobody owns; the
   * next start thaws the sandbox and removes the partial snapshot.
   */
  private runc(args: string[], op: LongOperation) {
    return this.host.run('setpriv', ['--pdeathsig', 'KILL', '--', 'runc', '--root', this.runtime.runc.root, '--criu', this.criu, ...args], { signal: op.signal });
  }

  /** Reports bytes CRIU has written while it runs. */
  private watch(dir: string, step: string, op: LongOperation): () => void {
    if (!op.onProgress) return () => undefined;
    const timer = setInterval(() => void dirBytes(this.host, dir).then((done) => op.onProgress?.({ step, done })), 250);
    return () => clearInterval(timer);
  }

  /**
   * Returns how long the sandbox was frozen, in milliseconds. A GPU sandbox's
   * CUDA processes go through the GPU pipeline around the dump, and its
   * snapshot gets a gpu.json saying which processes and GPUs.
   */
  async checkpoint(def: SandboxDefinition, dir: string, op: CheckpointOptions): Promise<number> {
    if (!def.gpus.length) return this.checkpointRetrying(def, dir, op);
    // CUDA state lives on the GPU, out of CRIU's reach: it is moved to host memory first (see gpu-pipeline.ts).
    const processes = await findGpuProcesses(this.runtime.cgroup(def.id).processes(), this.host);
    const pids = processes.map((p) => p.pid);
    const memory = pids.length ? await gpuMemoryUsedMb(this.host, this.gpu.nvidiaSmi, pids) : new Map<string, number>();
    const frozenMs = pids.length
      ? await freezeGpuProcesses(this.cuda(), pids, () => this.checkpointRetrying(def, dir, op), op, this.log)
      : await this.checkpointRetrying(def, dir, op);
    const state: GpuSnapshotState = { uuids: [...def.gpus], processes: processes.map((p) => p.nsPid), memoryMb: Object.fromEntries(memory) };
    await this.host.writeFile(join(dir, SNAPSHOT_PARTS.gpu), JSON.stringify(state));
    return frozenMs;
  }

  /**
   * A task caught in uninterruptible sleep (mid-fork, mid-I/O) as the cgroup
   * froze cannot be seized; that is transient, so it is tried once more after a thaw.
   */
  private async checkpointRetrying(def: SandboxDefinition, dir: string, op: CheckpointOptions): Promise<number> {
    try {
      return await this.checkpointOnce(def, dir, op);
    } catch (e) {
      const killed = /signal: killed|SIGKILL/.test((e as { cause?: CommandError }).cause?.result?.stderr ?? '');
      if (!(e instanceof StepError) || !/Unseizable non-zombie .* state D/.test(e.message) || killed || op.signal?.aborted) throw e;
      this.log.warn({ sandbox: def.name }, 'a task was in uninterruptible sleep during the dump; trying again');
      await this.host.rm(dir, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
      return this.checkpointOnce(def, dir, op);
    }
  }

  private async checkpointOnce(def: SandboxDefinition, sealedDir: string, op: CheckpointOptions): Promise<number> {
    const p = this.runtime.paths(def.id);
    const scratch = join(p.dir, 'clear-images');
    const release = op.key ? await mountScratch(this.host, scratch) : async () => undefined;
    try {
      const frozenMs = await this.dump(def, op.key ? scratch : sealedDir, op);
      if (op.key) {
        op.onProgress?.({ step: 'encrypt' });
        await sealTree(this.host, scratch, sealedDir, op.key, op.signal);
        await this.host.writeFile(join(sealedDir, SNAPSHOT_PARTS.sealedMarker), 'aes-256-gcm\n');
      }
      return frozenMs;
    } finally {
      await release();
    }
  }

  private async dump(def: SandboxDefinition, dir: string, op: CheckpointOptions): Promise<number> {
    const id = containerId(def.id);
    const p = this.runtime.paths(def.id);
    const work = join(p.dir, 'criu-work');
    await Promise.all([this.host.mkdir(join(dir, SNAPSHOT_PARTS.criu), { recursive: true }), this.host.mkdir(join(dir, 'fs'), { recursive: true }), this.host.rm(work, { recursive: true, force: true })]);
    await this.host.mkdir(work);

    let step = 'freeze';
    let paused = false;
    let frozenAt = 0;
    let frozenMs = 0;
    try {
      op.onProgress?.({ step });
      await this.pause(id, op);
      frozenAt = performance.now();
      paused = true;
      step = 'filesystem';
      op.onProgress?.({ step });
      await packLayer(this.host, p.upper, join(dir, SNAPSHOT_PARTS.layer), op.signal);
      await this.host.run('cp', ['--sparse=always', p.consoleLog, join(dir, SNAPSHOT_PARTS.console)]);
      // Command logs: open in running commands (CRIU reopens them at their size), and the ledger's output.
      if (await this.host.exists(p.execs)) await this.host.run('cp', ['-a', '--sparse=always', p.execs, join(dir, SNAPSHOT_PARTS.execs)]);
      step = 'criu dump';
      op.onProgress?.({ step });
      // A branch was restored with tcp-close; a dump with it would demand it at every later restore (and close what it need not).
      if (await this.host.exists(join(p.dir, 'criu.conf'))) await this.host.writeFile(join(p.dir, 'criu.conf'), '');
      const stopWatch = this.watch(join(dir, SNAPSHOT_PARTS.criu), step, op);
      try {
        await this.runc(
          [
            'checkpoint',
            '--image-path',
            join(dir, SNAPSHOT_PARTS.criu),
            '--work-path',
            work,
            '--tcp-established',
            '--file-locks',
            ...(op.leaveRunning ? ['--leave-running'] : []),
            id,
          ],
          op,
        );
      } finally {
        stopWatch();
      }
      if (!op.leaveRunning) paused = false; // the container is gone
    } catch (e) {
      if (e instanceof BothubError && e.code === 'BUSY') throw e;
      throw new StepError(step, await this.reason(e, work), e);
    } finally {
      // Whatever happened, a sandbox we froze must run again.
      if (paused) await this.resume(id);
      frozenMs = frozenAt ? performance.now() - frozenAt : 0;
    }
    if (!op.leaveRunning) {
      // runc removed the container; keep the network namespace so a restore gets the same address.
      await this.runtime.runc.delete(id);
      await unmount(this.host, p.rootfs);
      // The layer's files are in the snapshot (and stay in its image): its mount and loop device go too.
      await unmountLayer(this.host, p);
    }
    await this.host.rm(work, { recursive: true, force: true });
    return Math.round(frozenMs * 10) / 10;
  }

  /**
   * runc pause gives up ("unable to freeze") when the cgroup v1 freezer does not
   * settle in its window, which happens on a loaded host; runc thaws again then.
   * A few tries, then BUSY: the sandbox runs on untouched, and a retry is safe.
   */
  private async pause(id: string, op: LongOperation): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runc(['pause', id], op);
        return;
      } catch (e) {
        if (!/unable to freeze/i.test(String((e as Error).message)) || op.signal?.aborted) throw e;
        await this.resume(id);
        if (attempt === PAUSE_ATTEMPTS) throw new BothubError('BUSY', `the sandbox's processes could not be frozen in ${PAUSE_ATTEMPTS} tries (the host is busy); it runs on unchanged, retry the snapshot`);
        await sleep(100 * attempt, undefined, { signal: op.signal });
      }
    }
  }

  private async resume(id: string): Promise<void> {
    const state = await this.runtime.runc.state(id);
    if (state?.status === 'paused') await this.runtime.runc.resume(id);
  }

  /** The useful line of a failure: CRIU's own error from its log, not runc's wrapper text. */
  private async reason(e: unknown, work: string): Promise<string> {
    if (e instanceof BothubError) return e.message;
    for (const log of ['dump.log', 'restore.log']) {
      const text = await this.host.readTextFile(join(work, log)).catch(() => '');
      const errors = text.split('\n').filter((l) => /Error \(/.test(l) && !/RLIMIT_NOFILE/.test(l));
      if (errors.length)
        return errors
          .slice(-2)
          .map((l) => l.replace(/^\([\d.]+\)\s*/, ''))
          .join(' | ');
    }
    if (e instanceof CommandError) {
      // runc wraps its reason as msg="…" in a log line; that quoted part is the useful one.
      const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(e.result.stderr)?.[1];
      return msg ? msg.replace(/\\"/g, '"') : e.message;
    }
    return String(e);
  }

  async restore(def: SandboxDefinition, snapshotDir: string, op: RestoreOptions): Promise<LazyTail | undefined> {
    const id = containerId(def.id);
    const p = this.runtime.paths(def.id);
    const work = join(p.dir, 'criu-work');
    const undo = new UndoStack();
    let step = 'filesystem';
    let dir = snapshotDir;
    let release = async () => undefined as void;
    let tail: LazyTail | undefined;
    let handedOver = false; // to the lazy tail, which releases the images once every page is in
    try {
      if (await isSealed(snapshotDir, this.host)) {
        step = 'decrypt';
        op.onProgress?.({ step });
        if (!op.key) throw new BothubError('INVALID_STATE', 'the snapshot is encrypted and no key was given');
        dir = join(p.dir, 'clear-images');
        release = await mountScratch(this.host, dir);
        const skip = (rel: string) => rel === SNAPSHOT_PARTS.sealedMarker || rel === SNAPSHOT_PARTS.gpu || rel === 'manifest.json';
        await openTree(this.host, snapshotDir, dir, op.key, skip, op.signal);
        step = 'filesystem';
      }
      op.onProgress?.({ step });
      await Promise.all([p.rootfs, p.guest, p.etc].map((d) => this.host.mkdir(d, { recursive: true, mode: 0o700 })));
      // The layer keeps its size limit (a branch's image is made here): the snapshot's files are unpacked inside it.
      await this.runtime.mountLayer(def, undo);
      await this.host.rm(p.upper, { recursive: true, force: true });
      await this.host.rm(p.work, { recursive: true, force: true });
      await Promise.all([this.host.mkdir(p.upper, { mode: 0o755 }), this.host.mkdir(p.work, { mode: 0o700 }), this.host.rm(work, { recursive: true, force: true })]);
      await this.host.mkdir(work);
      await unpackLayer(this.host, join(dir, SNAPSHOT_PARTS.layer), p.upper, op.signal);
      // CRIU reopens the console log at its dumped size and offset.
      await this.host.run('cp', ['--sparse=always', join(dir, SNAPSHOT_PARTS.console), p.consoleLog]);
      await this.host.rm(p.execs, { recursive: true, force: true });
      if (await this.host.exists(join(dir, SNAPSHOT_PARTS.execs))) await this.host.run('cp', ['-a', '--sparse=always', join(dir, SNAPSHOT_PARTS.execs), p.execs]);
      await Promise.all([this.host.rm(p.execSocket, { force: true }), this.runtime.writeEtc(def)]);

      step = 'network';
      op.onProgress?.({ step });
      if (def.address && !(await this.host.exists(`/run/netns/${netnsName(def.id)}`))) {
        await this.runtime.createNetwork(def);
        undo.push('network', () => removeSandboxNetwork(this.host, def.id));
      }
      step = 'mount';
      op.onProgress?.({ step });
      await mountOverlay(this.host, def.imageRootfs, p.upper, p.work, p.rootfs);
      undo.push('overlay mount', () => unmount(this.host, p.rootfs));
      // A branch has a new address: connections of the original cannot follow it, so CRIU restores them closed.
      const criuConf = join(p.dir, 'criu.conf');
      await this.host.writeFile(criuConf, op.branch ? 'tcp-close\n' : '');
      await this.runtime.writeBundle(def, { 'org.criu.config': criuConf });

      step = 'criu restore';
      op.onProgress?.({ step });
      const gpu = await readGpuState(snapshotDir, this.host);
      // CUDA state is put back by touching all of its host copy at once: GPU snapshots restore eagerly.
      if (op.pages && (!op.lazy || gpu?.processes.length)) throw new BothubError('INTERNAL', 'sparse pages images were given to an eager restore');
      if (op.lazy && !gpu?.processes.length) {
        const serving = op.pages && { pages: op.pages, guard: LAZY_GUARD, runcRoot: this.runtime.runc.root, container: id };
        tail = await startLazyPages(this.host, this.criu, join(dir, SNAPSHOT_PARTS.criu), work, serving);
        undo.push('lazy pages', async () => tail?.stop());
      }
      undo.push('container', () => this.runtime.runc.delete(id));
      const lazy = tail ? ['--lazy-pages'] : [];
      const criuRestore = () =>
        this.runc(
          ['restore', '--detach', '--image-path', join(dir, SNAPSHOT_PARTS.criu), '--work-path', work, '--bundle', p.dir, '--tcp-established', '--file-locks', ...lazy, id],
          op,
        ).catch(async (e: unknown) => Promise.reject(new StepError('criu restore', await this.reason(e, work), e)));
      if (gpu?.processes.length) {
        const restored = async () => (await criuRestore(), hostPidsOf(this.runtime.cgroup(def.id).processes(), gpu.processes, this.host));
        await thawGpuProcesses(this.cuda(), restored, remapPairs(gpu.uuids, def.gpus), op);
      } else await criuRestore();
      step = 'ready';
      op.onProgress?.({ step });
      (await connectInit(p.execSocket, 5000, this.host)).destroy();
      undo.commit();
      if (!tail) await this.host.rm(work, { recursive: true, force: true });
      handedOver = !!tail;
      return tail && { ...tail, pagesIn: keepUntilIn(tail.pagesIn, release, () => this.host.rm(work, { recursive: true, force: true })) };
    } catch (e) {
      const failure = e instanceof StepError ? e : new StepError(step, await this.reason(e, work), e);
      // CRIU's whole log outlives the sandbox directory the undo removes: the one line above is rarely all.
      const kept = this.runtime.failedRestoreLog(def.id);
      await this.host.mkdir(dirname(kept), { recursive: true })
        .then(() => this.host.run('cp', [join(work, 'restore.log'), kept], { allowFailure: true }))
        .catch(() => undefined);
      await undo.unwind((what, err) => this.log.warn({ err, what, sandbox: def.name }, 'cleanup after a failed restore'));
      throw failure;
    } finally {
      // CRIU has read every image by now (or failed): the clear copy goes; a lazy restore's, once every page is in.
      if (!handedOver) await release();
    }
  }
}

/** `pagesIn`, after which `cleanups` run (whatever its outcome): the images a lazy restore reads stay until then. */
function keepUntilIn(pagesIn: Promise<void>, ...cleanups: (() => Promise<unknown>)[]): Promise<void> {
  const settled = pagesIn.finally(async () => {
    for (const c of cleanups) await c().catch(() => undefined);
  });
  settled.catch(() => undefined);
  return settled;
}
