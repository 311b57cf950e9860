import { join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError, type Subnet } from '../core/index.js';
import type { Host } from '../hostexec/index.js';
import { CgroupReader } from './cgroups.js';
import { connectInit, startExec, type ExecSession } from './exec/client.js';
import type { InitRequest } from './exec/protocol.js';
import { sandboxHosts, sandboxResolvConf } from './network/dns.js';
import { createSandboxNetwork, netnsPath, removeSandboxNetwork } from './network/netns.js';
import { writePeerRules } from './network/peers.js';
import { discoverNvidiaDriver, gpuAttachment, GUEST_NVIDIA_DIR } from './gpu/nvidia-driver.js';
import { buildOciSpec } from './oci-spec.js';
import { mountOverlay, unmount } from './overlay.js';
import { detachStrayLoops, mountLayer, unmountLayer } from './writable-layer.js';
import { DataLayout, SandboxPaths } from './paths.js';
import type { LongOperation } from './progress.js';
import { isAlive, Runc, waitForExit, type RuncState } from './runc.js';
import { UndoStack } from './undo-stack.js';
import { SpareLayers } from './spare-layers.js';
import { removeContainerRemains } from './container-remains.js';
import { mountsUnder } from './host-objects.js';

/** Everything the runtime needs to know to run one sandbox. */
export interface SandboxDefinition {
  id: string;
  name: string;
  /** The overlay lowerdir: the image's layer directories, top first, joined by ':'. */
  imageRootfs: string;
  command: readonly string[];
  /** The image's WorkingDir and User, for the main command. */
  mainCwd?: string;
  mainUser?: { uid: number; gid: number };
  env: Record<string, string>;
  cpus: number | null;
  memoryMb: number | null;
  pidsLimit: number;
  /** null: no network but loopback. */
  address: string | null;
  /** UUIDs of the NVIDIA GPUs it holds. */
  gpus: readonly string[];
  /** Size limit of its writable layer, MB; null: none. */
  diskMb: number | null;
}

export interface RuntimeConfig {
  layout: DataLayout;
  initBinary: string;
  bridgeName: string;
  subnet: Subnet;
  /** Where the NVIDIA driver is: "/" or a driver container's root (the toolkit's driver-root). */
  nvidiaDriverRoot: string;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STOP_GRACE_MS = 5000;

export const containerId = (id: string) => `bothub-${id}`;
/** Absolute: under the hierarchy root, not under the daemon's own cgroup, so a daemon (or service) restart never touches sandboxes. */
export const cgroupsPath = (id: string) => `/bothub/${id}`;

/**
 * Creates, starts, stops and destroys sandboxes on this host: runc containers
 * on an overlay root with their own network namespace, with bothub-init as PID 1.
 * Each operation either completes or leaves nothing behind.
 */
export class SandboxRuntime {
  readonly runc: Runc;
  /** Destroyed sandboxes' directories being deleted in the background now. */
  readonly deleting = new Set<string>();
  /** Empty disk-limited layers made ahead; a daemon stop waits for `spares.idle()`. */
  readonly spares: SpareLayers;

  constructor(
    private readonly host: Host,
    private readonly config: RuntimeConfig,
    private readonly log: Logger,
  ) {
    this.runc = new Runc(host, config.layout.runcRoot);
    this.spares = new SpareLayers(host, config.layout.spareLayersDir, log);
  }

  paths(id: string): SandboxPaths {
    return this.config.layout.sandbox(id);
  }

  /** Where CRIU's log of a failed restore of this sandbox is kept. */
  failedRestoreLog(id: string): string {
    return join(this.config.layout.criuLogsDir, `${id}-restore.log`);
  }

  cgroup(id: string): CgroupReader {
    return new CgroupReader(this.host, cgroupsPath(id));
  }

  /** First start of a sandbox: its directory and writable layer are made here. */
  async create(def: SandboxDefinition, op: LongOperation = {}): Promise<void> {
    const p = this.paths(def.id);
    const undo = new UndoStack();
    try {
      await this.host.mkdir(p.dir, { recursive: true });
      undo.push('sandbox directory', () => this.host.rm(p.dir, { recursive: true, force: true }));
      await Promise.all([p.rootfs, p.guest, p.etc].map((d) => this.host.mkdir(d, { recursive: true, mode: 0o700 })));
      await this.boot(def, undo, op);
      undo.commit();
    } catch (e) {
      await undo.unwind((what, err) => this.log.warn({ err, what, sandbox: def.name }, 'cleanup after a failed create'));
      throw wrap(e, `creating sandbox "${def.name}"`);
    }
  }

  /** Starts a stopped sandbox again from its kept writable layer. */
  async start(def: SandboxDefinition, op: LongOperation = {}): Promise<void> {
    const undo = new UndoStack();
    try {
      await this.boot(def, undo, op);
      undo.commit();
    } catch (e) {
      await undo.unwind((what, err) => this.log.warn({ err, what, sandbox: def.name }, 'cleanup after a failed start'));
      throw wrap(e, `starting sandbox "${def.name}"`);
    }
  }

  private async boot(def: SandboxDefinition, undo: UndoStack, op: LongOperation): Promise<void> {
    const p = this.paths(def.id);
    op.signal?.throwIfAborted();
    op.onProgress?.({ step: 'mount and network' });
    const lower = await this.imageLower(def);
    // Independent steps, run together; each registers its undo only once it is done. The
    // files (the bundle's config, /etc's) live in the sandbox's directory, not on a mount.
    const steps = await Promise.allSettled([
      this.mountLayer(def, undo).then(() =>
        mountOverlay(this.host, lower, p.upper, p.work, p.rootfs).then(() => undo.push('overlay mount', () => unmount(this.host, p.rootfs))),
      ),
      def.address ? this.createNetwork(def).then(() => undo.push('network', () => removeSandboxNetwork(this.host, def.id))) : undefined,
      Promise.all([this.writeEtc(def), this.host.rm(p.execSocket, { force: true }), this.writeBundle(def)]),
    ]);
    const failed = steps.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    // A half-made network namespace is not on the undo stack yet: remove it too.
    if (steps[1].status === 'rejected') undo.push('network', () => removeSandboxNetwork(this.host, def.id));
    if (failed) throw failed.reason;

    op.onProgress?.({ step: 'runc' });
    op.signal?.throwIfAborted();
    undo.push('container', () => this.runc.delete(containerId(def.id)));
    await this.runc.run(containerId(def.id), p.dir, op.signal);
    // Ready means init answers on its socket: the next exec cannot fail on a race.
    (await connectInit(p.execSocket, 5000, this.host)).destroy();
  }

  /** Mounts the writable layer (making its image on first use); `undo` releases it again. */
  async mountLayer(def: SandboxDefinition, undo: UndoStack): Promise<void> {
    const p = this.paths(def.id);
    undo.push('writable layer', () => unmountLayer(this.host, p));
    await mountLayer(this.host, p, def.diskMb, this.spares);
  }

  /** Writes the OCI config; annotations reach runc (org.criu.config names a CRIU config file). */
  async writeBundle(def: SandboxDefinition, annotations: Record<string, string> = {}): Promise<void> {
    const p = this.paths(def.id);
    const spec = buildOciSpec({
      hostname: def.name,
      rootfs: p.rootfs,
      initBinary: this.config.initBinary,
      guestDir: p.guest,
      etcDir: p.etc,
      command: def.command,
      mainCwd: def.mainCwd,
      mainUser: def.mainUser,
      env: sandboxEnv(def),
      cpus: def.cpus ?? undefined,
      memoryMb: def.memoryMb ?? undefined,
      pidsLimit: def.pidsLimit,
      netnsPath: def.address ? netnsPath(def.id) : undefined,
      cgroupsPath: cgroupsPath(def.id),
      annotations,
      gpu: def.gpus.length ? gpuAttachment(await discoverNvidiaDriver(this.host, this.config.nvidiaDriverRoot), def.gpus) : undefined,
    });
    await this.host.writeFile(p.config, JSON.stringify(spec));
  }

  /** The files bind-mounted over /etc/resolv.conf, /etc/hosts and /etc/hostname. */
  async writeEtc(def: SandboxDefinition): Promise<void> {
    const etc = this.paths(def.id).etc;
    await this.host.mkdir(etc, { recursive: true, mode: 0o700 });
    await Promise.all([
      this.host.writeFile(join(etc, 'resolv.conf'), await sandboxResolvConf(this.host)),
      this.host.writeFile(join(etc, 'hosts'), sandboxHosts(def.name, def.address ?? undefined)),
      this.host.writeFile(join(etc, 'hostname'), `${def.name}\n`),
    ]);
  }

  /** Which sandbox addresses may reach each other (groups of peers); everything else between sandboxes is dropped. */
  writePeerRules(groups: readonly (readonly string[])[]): Promise<void> {
    return writePeerRules(this.host, this.config.bridgeName, groups);
  }

  async createNetwork(def: SandboxDefinition): Promise<void> {
    if (def.address) await createSandboxNetwork(this.host, def.id, def.address, this.config.subnet, this.config.bridgeName);
  }

  private async imageLower(def: SandboxDefinition): Promise<string> {
    if (!(await Promise.all(def.imageRootfs.split(':').map((dir) => this.host.exists(dir)))).every(Boolean)) throw new BothubError('NOT_FOUND', `the image of sandbox "${def.name}" is gone (${def.imageRootfs}); destroy the sandbox`);
    return def.imageRootfs;
  }

  /** Stops every process (SIGTERM, then SIGKILL after the grace period) and releases mount and network. */
  async stop(def: SandboxDefinition, graceMs = STOP_GRACE_MS): Promise<void> {
    const pid = await this.runc.initPid(containerId(def.id));
    // init passes SIGTERM to every process and exits when the last is gone.
    if (pid && (await isAlive(this.host, pid)) && (await this.host.kill(pid, 'SIGTERM'))) await waitForExit(this.host, pid, graceMs, 50);
    await this.release(def);
  }

  /** Kills and removes the container, mount and network; keeps the writable layer. */
  async release(def: SandboxDefinition): Promise<void> {
    const id = containerId(def.id);
    if (def.cpus !== null) {
      // See setCpuLimit: dying needs CPU. No cgroup: nothing is running.
      await this.cgroup(def.id)
        .setCpuLimit(null)
        .catch(() => undefined);
    }
    // A frozen process cannot die: thawed first (a warm sandbox), or the kill below waits out its time limit. No cgroup: nothing runs.
    await this.cgroup(def.id)
      .setFrozen(false)
      .catch(() => undefined);
    await this.runc.killNow(id);
    // With init dead nothing holds the mounts, the namespace or the cgroup: all at once. The
    // layer is below the root, so unmounted after it (one umount process, in that order).
    // No `runc delete`: of a dead container it only removes the state directory and the
    // cgroup, which removeContainerRemains does as well (and it kills whatever a failed
    // kill left in the cgroup, thawed first), without starting a runc process.
    const p = this.paths(def.id);
    await Promise.all([
      unmount(this.host, p.rootfs, p.layer),
      def.address ? removeSandboxNetwork(this.host, def.id) : undefined,
      removeContainerRemains(this.host, join(this.config.layout.runcRoot, id), cgroupsPath(def.id)),
    ]);
  }

  /**
   * At daemon start, for a sandbox that has no container on purpose (stopped,
   * cold, in a snapshot): a mount a crash left (its root, its layer and the
   * layer's loop device) goes. Its files and network stay.
   */
  async releaseMounts(def: Pick<SandboxDefinition, 'id'>): Promise<void> {
    const p = this.paths(def.id);
    await unmount(this.host, p.rootfs, p.layer);
  }

  /** Mount points under `dir` on this runtime's host. */
  mountsUnder(dir: string): Promise<string[]> {
    return mountsUnder(this.host, dir);
  }

  /** At daemon start: loop devices of this data dir that nothing mounts any more are detached. */
  detachStrayLoops(): Promise<string[]> {
    return detachStrayLoops(this.host, this.config.layout.dataDir);
  }

  /** Removes everything; the directory is renamed away at once and deleted after. */
  async destroy(def: SandboxDefinition): Promise<void> {
    await this.release(def);
    const p = this.paths(def.id);
    if (!(await this.host.exists(p.dir))) return;
    await this.host.mkdir(this.config.layout.trashDir, { recursive: true });
    const doomed = join(this.config.layout.trashDir, `${def.id}-${Date.now()}`);
    await this.host.rename(p.dir, doomed);
    this.deleting.add(doomed);
    this.host
      .rm(doomed, { recursive: true, force: true })
      .catch((err) => this.log.warn({ err, dir: doomed }, 'could not delete a destroyed sandbox directory'))
      .finally(() => this.deleting.delete(doomed));
  }

  async state(def: Pick<SandboxDefinition, 'id'>): Promise<RuncState | undefined> {
    return this.runc.state(containerId(def.id));
  }

  async exec(def: SandboxDefinition, request: Omit<InitRequest, 'env'> & { env?: Record<string, string> }): Promise<ExecSession> {
    return startExec(this.host, this.paths(def.id).execSocket, { ...request, env: sandboxEnv({ ...def, env: { ...def.env, ...request.env } }) });
  }
}

/** The environment every process of a sandbox starts with. */
export function envList(env: Record<string, string>): string[] {
  const merged: Record<string, string> = { PATH: DEFAULT_PATH, HOME: '/root', TERM: 'xterm-256color', LANG: 'C.UTF-8', ...env };
  return Object.entries(merged).map(([k, v]) => `${k}=${v}`);
}

/** What a GPU sandbox's processes are told, as the NVIDIA toolkit tells them; the sandbox's own env wins. */
function sandboxEnv(def: Pick<SandboxDefinition, 'env' | 'gpus'>): string[] {
  if (!def.gpus.length) return envList(def.env);
  return envList({
    NVIDIA_VISIBLE_DEVICES: def.gpus.join(','),
    NVIDIA_DRIVER_CAPABILITIES: 'compute,utility',
    LD_LIBRARY_PATH: `${GUEST_NVIDIA_DIR}/lib64`,
    PATH: `${GUEST_NVIDIA_DIR}/bin:${DEFAULT_PATH}`,
    ...def.env,
  });
}

function wrap(e: unknown, doing: string): Error {
  if (e instanceof BothubError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new BothubError('RUNTIME_FAILED', `${doing} failed: ${message}`, { cause: e });
}
