import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import {
  assertAllowed,
  BothubError,
  DEFAULT_PIDS_LIMIT,
  generateName,
  notFound,
  parseGpuRequest,
  SYSTEM,
  validateCpus,
  validateDiskMb,
  validateMemoryMb,
  validateName,
  type Actor,
  type GpuInfo,
  type HostCapacity,
  type SandboxAction,
  type SandboxStatus,
  type Subnet,
} from '../../core/index.js';
import type { CreateSandboxT, SandboxT } from '../../api/index.js';
import { DEBIAN_IMAGE, GUEST, type ImageStore, type LongOperation, type SandboxDefinition, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation, lockPlacement } from '../db/dialect.js';
import type { SandboxRow } from '../db/tables.js';
import { AttachCounter } from './attach-counter.js';
import type { FleetPort } from './fleet-port.js';
import { GpuClaims, type GpuClaim } from './gpu-claims.js';
import { KeyedMutex } from './keyed-mutex.js';
import { enforceQuota } from './quota.js';
import { DESTROY_CUT_SHORT, SandboxReconciler } from './sandbox-reconciler.js';
import { LOCAL, newSandboxRow, NOT_FOUND_HINT, type SandboxRecords } from './sandbox-records.js';
import { SandboxNetwork } from './sandbox-network.js';
import type { SecretService } from './secret-service.js';
export { holdsGpus, QUOTA_DEFAULT_MEMORY_MB } from './quota.js';
export { LOCAL, newSandboxRow, specOf, toApi, type NewSandbox, type PublishedUrl } from './sandbox-records.js';
export { DESTROY_CUT_SHORT } from './sandbox-reconciler.js';
export type { GpuClaim } from './gpu-claims.js';
export interface SandboxServiceDeps {
  db: Db;
  runtime: SandboxRuntime;
  images: ImageStore;
  secrets: SecretService;
  records: SandboxRecords;
  /** Sandboxes on fleet hosts, and where a new one goes. */
  fleet: FleetPort;
  /** Forgets a cold sandbox's disk state (the thermal service). */
  discardCold: (id: string) => Promise<void>;
  subnet: Subnet;
  capacity: HostCapacity;
  /** This machine's NVIDIA GPUs now; null: none. */
  gpus: () => Promise<GpuInfo | null>;
  /** The writable-layer limit of a sandbox created without --disk, MB; null: none. */
  diskMb: number | null;
  lock?: KeyedMutex; // across daemons, a SandboxLock; default this process's alone
  log: Logger;
}

/**
 * The sandbox lifecycle as users see it: records kept in step with what runc
 * runs. Operations on one sandbox are serialized (across daemons: `lock`). A
 * sandbox another user owns answers exactly as a missing one does. Records,
 * GPU and quota claims, network and reconciler are modules of their own.
 */
export class SandboxService {
  readonly lock: KeyedMutex;
  /** Sandboxes on fleet hosts, done by their agents. */
  readonly remote: FleetPort;
  private readonly attached = new AttachCounter();
  private readonly claims: GpuClaims;
  private readonly network: SandboxNetwork;
  private readonly reconciler: SandboxReconciler;

  constructor(private readonly deps: SandboxServiceDeps) {
    this.remote = deps.fleet;
    this.lock = deps.lock ?? new KeyedMutex();
    this.claims = new GpuClaims({ db: deps.db, gpus: deps.gpus });
    this.network = new SandboxNetwork({ db: deps.db, subnet: deps.subnet, runtime: deps.runtime });
    this.reconciler = new SandboxReconciler({ db: deps.db, runtime: deps.runtime, sandboxes: this, log: deps.log });
  }

  execAttached(id: string, delta: 1 | -1): void {
    this.attached.change(id, delta);
  }

  attachedExecs(id: string): number {
    return this.attached.count(id);
  }

  present(row: SandboxRow): Promise<SandboxT> {
    return this.deps.records.present(row);
  }

  list(actor: Actor): Promise<SandboxT[]> {
    return this.deps.records.list(actor);
  }

  row(name: string, actor: Actor = SYSTEM): Promise<SandboxRow> {
    return this.deps.records.row(name, actor);
  }

  async get(name: string, actor: Actor): Promise<SandboxT> {
    return this.present(await this.row(name, actor));
  }

  setStatus(id: string, status: SandboxStatus, reason: string | null, extra: Partial<SandboxRow> = {}): Promise<SandboxRow> {
    return this.deps.records.setStatus(id, status, reason, extra);
  }

  /** Brings a record of a sandbox on a fleet host in line with what its agent says of it (`arrived`: just restored there). */
  follow(id: string, there: SandboxT, arrived = false): Promise<SandboxRow> {
    return this.deps.records.follow(id, there, arrived);
  }

  definition(row: SandboxRow): SandboxDefinition {
    const main = this.mainProcessOf(row.image);
    return {
      id: row.id,
      name: row.name,
      imageRootfs: this.deps.images.lowerDir(row.image),
      mainCwd: main.cwd,
      mainUser: main.user,
      command: JSON.parse(row.command_json) as string[],
      env: JSON.parse(row.env_json) as Record<string, string>,
      cpus: row.cpus,
      memoryMb: row.memory_mb,
      pidsLimit: row.pids_limit,
      address: row.address,
      gpus: JSON.parse(row.gpu_uuids_json) as string[],
      diskMb: row.disk_mb,
    };
  }

  /** The image's User and WorkingDir; an image whose user cannot be resolved runs as root (create already refused it). */
  private mainProcessOf(image: string): { cwd?: string; user?: { uid: number; gid: number } } {
    try {
      return this.deps.images.mainProcessOf(image);
    } catch {
      return {};
    }
  }

  /** Runs `fn` with what the sandbox takes to run claimed (quota, GPUs); see GpuClaims.claim. */
  claim<T>(row: SandboxRow, fn: (row: SandboxRow) => Promise<T>): Promise<T> {
    return this.claims.claim(row, fn);
  }

  /** Its memory may hold secret values, so whatever is written of it to disk gets encrypted. */
  holdsSecrets(row: SandboxRow): boolean {
    return (JSON.parse(row.secrets_json) as string[]).length > 0;
  }

  /** The secret values a sandbox's processes get, opened for this one use. */
  async secretEnv(row: SandboxRow): Promise<Record<string, string>> {
    return this.deps.secrets.env(row.owner_id, JSON.parse(row.secrets_json) as string[]);
  }

  /** The sandbox, checked to allow `action` in its current status; `known`: its record as this request read it for this actor. */
  async require(name: string, action: SandboxAction, actor: Actor = SYSTEM, known?: SandboxRow): Promise<{ row: SandboxRow; def: SandboxDefinition }> {
    const row = known ?? (await this.row(name, actor));
    assertAllowed(name, row.status, action);
    return { row, def: this.definition(row) };
  }

  async create(req: CreateSandboxT, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    const { capacity, images, runtime, secrets } = this.deps;
    const name = req.name ? validateName('sandbox', req.name) : await this.freshName();
    const image = req.image ?? DEBIAN_IMAGE;
    const gpus = req.gpus === undefined ? undefined : parseGpuRequest(req.gpus);
    const host = req.host ?? (await this.remote.place({ cpus: req.cpus ?? null, memoryMb: req.memoryMb ?? null, gpus, ownerId: actor.id }));
    const cpus = req.cpus === undefined ? null : host === LOCAL ? validateCpus(req.cpus, capacity) : req.cpus;
    const memoryMb = req.memoryMb === undefined ? null : host === LOCAL ? validateMemoryMb(req.memoryMb, capacity) : req.memoryMb;
    const diskMb = req.diskMb === undefined ? this.deps.diskMb : validateDiskMb(req.diskMb);
    await secrets.requireAll(actor.id, req.secrets ?? []);
    if (host !== LOCAL) return this.createElsewhere(host, { ...req, name, image, cpus, memoryMb, diskMb }, actor);
    const imageInfo = image === DEBIAN_IMAGE ? await images.ensureDebian(op) : await images.requireFor(image, actor);
    // The image's config (a pulled one's Entrypoint, Cmd and Env) fills what the request leaves out.
    const imageConfig = imageInfo.config;
    // An image whose User names no user of its own /etc/passwd is refused here, before any record exists.
    if (imageConfig) images.mainProcessOf(image);
    const defaultCommand = imageConfig ? [...imageConfig.entrypoint, ...imageConfig.cmd] : [];
    const imageEnv = Object.fromEntries(
      (imageConfig?.env ?? []).flatMap((kv) => {
        const eq = kv.indexOf('=');
        return eq > 0 ? [[kv.slice(0, eq), kv.slice(eq + 1)] as const] : [];
      }),
    );

    const row = await this.insert(
      newSandboxRow({
        name,
        image,
        cpus,
        memoryMb,
        pidsLimit: DEFAULT_PIDS_LIMIT,
        network: req.network ?? 'default',
        command: req.command ?? defaultCommand,
        env: { ...imageEnv, ...req.env },
        secrets: req.secrets ?? [],
        ownerId: actor.id,
        idleWarmMs: req.idleWarmMs ?? null,
        idleColdMs: req.idleColdMs ?? null,
        keepHot: !!req.keepHot,
        gpus: 0,
        diskMb,
      }),
      gpus && { request: gpus },
    );
    return this.lock.run(row.id, async () => {
      try {
        await this.boot(row, op, (def, o) => runtime.create(def, o));
      } catch (e) {
        // The runtime undid its own steps; the record goes too, so the name is free again.
        await runtime.destroy(this.definition(row)).catch(() => undefined);
        await this.forget(row);
        throw e;
      }
      return this.present(await this.setStatus(row.id, 'running', null, { started_at: new Date().toISOString() }));
    });
  }

  /**
   * A sandbox on a fleet host: the record here is made first (the name is taken), the host's agent creates it
   * (under the lock: another daemon's destroy waits for it), the record follows. A failure there leaves no record.
   */
  private async createElsewhere(
    host: string,
    req: Omit<CreateSandboxT, 'cpus' | 'memoryMb' | 'diskMb'> & { name: string; image: string; cpus: number | null; memoryMb: number | null; diskMb: number | null },
    actor: Actor,
  ): Promise<SandboxT> {
    if (req.secrets?.length)
      throw new BothubError(
        'INVALID_INPUT',
        `sandboxes with secrets run on the control plane's own machine for now (secret values never leave it); leave \`host\` out, or the secrets`,
      );
    if (req.network === 'peers') throw new BothubError('INVALID_INPUT', `a peers network joins sandboxes of one machine; leave \`host\` out, or leave \`network\` as default`);
    const agent = await this.remote.agentFor(host, req.image, actor);
    const row = await this.insert(
      newSandboxRow({
        name: req.name,
        image: req.image,
        cpus: req.cpus,
        memoryMb: req.memoryMb,
        pidsLimit: DEFAULT_PIDS_LIMIT,
        network: req.network ?? 'default',
        command: req.command ?? [],
        env: req.env ?? {},
        secrets: [],
        ownerId: actor.id,
        idleWarmMs: req.idleWarmMs ?? null,
        idleColdMs: req.idleColdMs ?? null,
        keepHot: !!req.keepHot,
        host,
        gpus: 0,
        diskMb: req.diskMb,
      }),
    );
    return this.lock.run(row.id, async () => {
      try {
        const { host: _h, ...body } = req;
        // The quota may have given it a memory limit: the agent's record keeps the same one.
        const there = await agent.call('createSandbox', { body: { ...body, cpus: req.cpus ?? undefined, memoryMb: row.memory_mb ?? undefined, diskMb: req.diskMb ?? undefined } });
        return this.present(await this.follow(row.id, there));
      } catch (e) {
        await this.forget(row);
        throw e;
      }
    });
  }

  /** Takes a local address for a record coming to this machine (a move here). */
  placeLocally(row: SandboxRow): Promise<SandboxRow> {
    return this.network.placeLocally(row);
  }

  /**
   * Boots the sandbox. A main command of a sandbox with secrets is not given
   * to init (whose config sits on disk): it starts as a detached command
   * right after, with the secrets in its environment only.
   */
  private async boot(row: SandboxRow, op: LongOperation, run: (def: SandboxDefinition, op: LongOperation) => Promise<void>): Promise<void> {
    const def = this.definition(row);
    const secretNames = JSON.parse(row.secrets_json) as string[];
    if (!secretNames.length || !def.command.length) return run(def, op);
    await run({ ...def, command: [] }, op);
    const session = await this.deps.runtime.exec(def, {
      argv: def.command,
      cwd: '/',
      env: await this.secretEnv(row),
      detach: { logPath: GUEST.console, exitPath: `${GUEST.dir}/main.exit` },
    });
    await session.started;
  }

  /** Removes the record; its address stops being anyone's peer. */
  async forget(row: SandboxRow): Promise<void> {
    await this.deps.records.remove(row);
    if (row.network === 'peers') await this.syncPeers();
  }

  /** Rewrites the host's peer rules from the records (see SandboxNetwork.syncPeers). */
  syncPeers(): Promise<void> {
    return this.network.syncPeers();
  }

  /**
   * Inserts the record, taking a free address (and its GPUs: as asked for, or
   * as many as its spec says) and its place in its owner's quota in the same
   * transaction: every new sandbox (a create, a branch, an import) comes here.
   */
  async insert(row: SandboxRow, gpuClaim?: GpuClaim): Promise<SandboxRow> {
    const claim = gpuClaim ?? (row.gpus > 0 ? { request: { kind: 'count' as const, count: row.gpus } } : undefined);
    const gpus = await this.claims.probeFor(row, !!claim);
    try {
      return await this.deps.db
        .transaction()
        .execute(async (tx) => {
          await lockPlacement(tx);
          if (claim && row.host === LOCAL) {
            const uuids = await this.claims.choose(tx, row.id, claim, gpus);
            row.gpus = uuids.length;
            row.gpu_uuids_json = JSON.stringify(uuids);
          }
          if (row.network !== 'none' && row.host === LOCAL) row.address = await this.network.allocate(tx);
          row = await enforceQuota(tx, row, this.claims.pending);
          await tx.insertInto('sandboxes').values(row).execute();
          return row;
        })
        .then(async (inserted) => {
          await this.deps.records.inserted(inserted);
          if (inserted.network === 'peers') await this.syncPeers();
          return inserted;
        });
    } catch (e) {
      if (isUniqueViolation(e, 'sandboxes', 'name')) {
        throw new BothubError('NAME_TAKEN', `a sandbox named "${row.name}" already exists; pick another name or destroy it (\`DELETE /api/v1/sandboxes/${row.name}\`)`);
      }
      throw e;
    }
  }

  private async freshName(): Promise<string> {
    for (let i = 0; i < 20; i++) {
      const name = generateName(() => randomInt(1_000_000) / 1_000_000);
      const taken = await this.deps.db.selectFrom('sandboxes').select('id').where('name', '=', name).executeTakeFirst();
      if (!taken) return name;
    }
    throw new BothubError('INTERNAL', 'could not generate a free sandbox name; give one in `name`');
  }

  async stop(name: string, actor: Actor): Promise<SandboxT> {
    const { row } = await this.require(name, 'stop', actor);
    return this.lock.run(row.id, async () => {
      const { row: now, def } = await this.require(name, 'stop', actor);
      // A frozen sandbox cannot act on SIGTERM: thaw it first. A cold one has no processes to stop.
      if (now.thermal === 'warm') await this.deps.runtime.cgroup(now.id).setFrozen(false);
      if (now.thermal === 'cold') await this.deps.discardCold(now.id);
      await this.deps.runtime.stop(def);
      return this.present(await this.setStatus(row.id, 'stopped', null, { started_at: null, thermal: 'hot' }));
    });
  }

  async start(name: string, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    const { row } = await this.require(name, 'start', actor);
    return this.lock.run(row.id, async () => {
      const { row: fresh, def } = await this.require(name, 'start', actor);
      // Whatever a crash left (a dead container, a mount) goes before the new start.
      await this.deps.runtime.release(def);
      return this.claim(fresh, async (claimed) => {
        await this.boot(claimed, op, (d, o) => this.deps.runtime.start(d, o));
        return this.present(await this.setStatus(row.id, 'running', null, { started_at: new Date().toISOString() }));
      });
    });
  }

  async destroy(name: string, actor: Actor): Promise<void> {
    const { row } = await this.require(name, 'destroy', actor);
    await this.lock.run(row.id, async () => {
      // Another request or daemon may have destroyed it while this one waited for the lock: then it is a 404 like any other.
      if ((await this.row(name, actor)).id !== row.id) throw notFound('sandbox', name, NOT_FOUND_HINT);
      try {
        // Recorded first: a crash past this point leaves a record the next start finishes destroying, never a half-removed sandbox that looks alive.
        await this.setStatus(row.id, 'error', DESTROY_CUT_SHORT);
        if (row.host !== LOCAL) await this.remote.destroy(row).catch((e: BothubError) => (e.code === 'NOT_FOUND' ? undefined : Promise.reject(e)));
        else await this.deps.discardCold(row.id).then(() => this.deps.runtime.destroy(this.definition(row)));
      } catch (e) {
        await this.setStatus(row.id, 'error', `destroy failed: ${(e as Error).message}`);
        throw e;
      }
      await this.deps.db.deleteFrom('publications').where('sandbox_id', '=', row.id).execute();
      await this.forget(row);
    });
  }

  /** Brings the records in line with what runc reports (see SandboxReconciler). */
  reconcile(atStartup: boolean): Promise<void> {
    return this.reconciler.reconcile(atStartup);
  }
}
