import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  allocateAddress,
  allocateGpus,
  assertAllowed,
  BothubError,
  canSee,
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
  type GpuRequest,
  type HostCapacity,
  type NetworkMode,
  type SandboxAction,
  type SandboxSpec,
  type SandboxStatus,
  type Subnet,
} from '../../core/index.js';
import type { CreateSandboxT, SandboxT } from '../../api/index.js';
import { containerId, DEBIAN_IMAGE, GUEST, mountsUnder, type ImageStore, type LongOperation, type SandboxDefinition, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { RemoteSandboxes } from '../fleet/remote-sandboxes.js';
import { enforceQuota, holdsGpus } from './quota.js';

export { holdsGpus, QUOTA_DEFAULT_MEMORY_MB } from './quota.js';

/** The daemon's own machine, as a host name. */
export const LOCAL = 'local';

/** Before the host service exists, every sandbox is local. */
const NO_FLEET = {
  agent: async () => {
    throw new BothubError('INTERNAL', 'fleet hosts are not set up in this daemon');
  },
  unreachable: async () => new Set<string>(),
} as unknown as RemoteSandboxes;
import type { SecretService } from './secret-service.js';

export interface SandboxServiceDeps {
  db: Db;
  runtime: SandboxRuntime;
  images: ImageStore;
  secrets: SecretService;
  subnet: Subnet;
  capacity: HostCapacity;
  /** This machine's NVIDIA GPUs now; null: none. */
  gpus: () => Promise<GpuInfo | null>;
  /** The writable-layer limit of a sandbox created without --disk, MB; null: none. */
  diskMb: number | null;
  log: Logger;
}

/** How a new record gets its GPUs: what was asked for, and the ones to take first when free. */
export interface GpuClaim {
  request: GpuRequest;
  prefer?: readonly string[];
}

const NOT_FOUND_HINT = 'see `bothub list`';

/** The status reason of a sandbox being destroyed; one a crash cut short is destroyed at the next start. */
export const DESTROY_CUT_SHORT = 'being destroyed (if this stays, the destroy was cut short: run `bothub destroy` again)';

/** Statuses with no container, in which a start or restore cut short may have left one. */
const LEFT_OVER_FROM = new Set(['stopped', 'exited', 'snapshotted']);

/**
 * Whether a record says a container should exist here: a cold sandbox has none on
 * purpose (a warm one is frozen on purpose), and a moved one lives on another host.
 */
const expectsContainer = (row: SandboxRow) => row.host === LOCAL && row.status === 'running' && row.thermal !== 'cold';

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
    status: hostDown ? 'unknown' : (row.status as SandboxStatus),
    statusReason: hostDown ? `host "${row.host}" does not answer; its last known status was ${row.status}` : row.status_reason,
    host: row.host,
    gpus: JSON.parse(row.gpu_uuids_json) as string[],
    diskMb: row.disk_mb,
    image: row.image,
    cpus: row.cpus,
    memoryMb: row.memory_mb,
    pidsLimit: row.pids_limit,
    network: row.network as NetworkMode,
    address: row.address,
    command: JSON.parse(row.command_json) as string[],
    env: JSON.parse(row.env_json) as Record<string, string>,
    secrets: JSON.parse(row.secrets_json) as string[],
    owner: ownerName,
    thermal: row.thermal as 'hot' | 'warm' | 'cold',
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
    network: row.network as NetworkMode,
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
    host: n.host ?? 'local',
    gpus: n.gpus,
    gpu_uuids_json: '[]',
    disk_mb: n.diskMb,
  };
}

/**
 * The sandbox lifecycle as users see it: records in SQLite kept in step with
 * what runc runs. Operations on one sandbox are serialized. A sandbox another
 * user owns answers exactly as a missing one does.
 */
export class SandboxService {
  readonly lock = new KeyedMutex();
  /** Commands with a live connection to init, per sandbox id: CRIU cannot checkpoint those connections. */
  private readonly attached = new Map<string, number>();
  private peerSync: Promise<void> = Promise.resolve();
  /**
   * Sandboxes on their way to running (starting, waking, restoring, coming
   * here), as their records will be: what they claimed (a place, memory,
   * GPUs) counts as held, though no record says so yet.
   */
  private readonly claims = new Map<string, SandboxRow>();

  /** Preview URLs of a sandbox; set by the publishing service once it exists. */
  urlsOf: (row: SandboxRow) => Promise<PublishedUrl[]> = async () => [];
  /** Sandboxes on fleet hosts; set once the host service exists. */
  remote: RemoteSandboxes = NO_FLEET;
  /** Where a new sandbox goes when no host is asked for; set by the scheduler. */
  place: (req: { cpus: number | null; memoryMb: number | null; gpus?: GpuRequest }) => Promise<string> = async () => LOCAL;
  /** Told of every record made, changed or removed (the event log); set once the event log exists. */
  onChange: (before: SandboxRow | undefined, after: SandboxRow | undefined) => Promise<void> = async () => undefined;

  constructor(private readonly deps: SandboxServiceDeps) {}

  execAttached(id: string, delta: 1 | -1): void {
    const n = (this.attached.get(id) ?? 0) + delta;
    if (n > 0) this.attached.set(id, n);
    else this.attached.delete(id);
  }

  attachedExecs(id: string): number {
    return this.attached.get(id) ?? 0;
  }

  private async ownerNames(): Promise<Map<string, string>> {
    const users = await this.deps.db.selectFrom('users').select(['id', 'name']).execute();
    return new Map(users.map((u) => [u.id, u.name]));
  }

  async present(row: SandboxRow): Promise<SandboxT> {
    const down = row.host !== LOCAL && (await this.remote.unreachable()).has(row.host);
    return toApi(row, row.owner_id ? ((await this.ownerNames()).get(row.owner_id) ?? null) : null, await this.urlsOf(row), down);
  }

  async list(actor: Actor): Promise<SandboxT[]> {
    let q = this.deps.db.selectFrom('sandboxes').selectAll().orderBy('created_at');
    if (!actor.admin) q = q.where('owner_id', '=', actor.id);
    const owners = await this.ownerNames();
    const down = await this.remote.unreachable();
    return Promise.all((await q.execute()).map(async (r) => toApi(r, r.owner_id ? (owners.get(r.owner_id) ?? null) : null, await this.urlsOf(r), down.has(r.host))));
  }

  async row(name: string, actor: Actor = SYSTEM): Promise<SandboxRow> {
    const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row || !canSee(actor, row.owner_id)) throw notFound('sandbox', name, NOT_FOUND_HINT);
    return row;
  }

  async get(name: string, actor: Actor): Promise<SandboxT> {
    return this.present(await this.row(name, actor));
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

  /** GPUs of this machine that other sandboxes hold or are claiming. */
  private async heldGpus(tx: Db, exceptId: string): Promise<Set<string>> {
    const rows = await tx.selectFrom('sandboxes').select(['id', 'status', 'thermal', 'gpu_uuids_json']).where('host', '=', LOCAL).where('gpus', '>', 0).execute();
    const held = new Set(rows.filter((r) => r.id !== exceptId && holdsGpus(r)).flatMap((r) => JSON.parse(r.gpu_uuids_json) as string[]));
    for (const [id, claim] of this.claims) if (id !== exceptId && claim.host === LOCAL) for (const u of JSON.parse(claim.gpu_uuids_json) as string[]) held.add(u);
    return held;
  }

  /** Picks GPUs in the transaction that records them, so two sandboxes never get the same one. */
  private async chooseGpus(tx: Db, id: string, claim: GpuClaim, gpus: GpuInfo | null): Promise<string[]> {
    const devices = gpus?.devices ?? [];
    // State checkpointed on one model restores only onto that model.
    const model = devices.find((d) => claim.prefer?.includes(d.uuid))?.name;
    return allocateGpus(claim.request, devices, { held: await this.heldGpus(tx, id), prefer: claim.prefer, model });
  }

  /**
   * Runs `fn` (a start, a wake, a restore, a move here) with what the sandbox
   * takes to run claimed in one transaction: its place and memory against its
   * owner's quota, and its GPUs again (the ones it had when free, else as many
   * others of that model: the CUDA restore remaps them). The claim counts as
   * held until `fn` is done, by when its record says so itself (or it failed).
   */
  async claim<T>(row: SandboxRow, fn: (row: SandboxRow) => Promise<T>): Promise<T> {
    const gpus = row.gpus > 0 && row.host === LOCAL ? await this.deps.gpus() : null;
    const claimed = await this.deps.db.transaction().execute(async (tx) => {
      // The owner's limits first: over them, which GPUs happen to be free does not matter.
      const next = await enforceQuota(tx, { ...row, status: 'running', thermal: 'hot' }, this.claims);
      if (row.gpus > 0 && row.host === LOCAL) {
        const prefer = JSON.parse(row.gpu_uuids_json) as string[];
        next.gpu_uuids_json = JSON.stringify(await this.chooseGpus(tx, row.id, { request: { kind: 'count', count: row.gpus }, prefer }, gpus));
      }
      this.claims.set(row.id, next);
      await tx.updateTable('sandboxes').set({ gpu_uuids_json: next.gpu_uuids_json, memory_mb: next.memory_mb }).where('id', '=', row.id).execute();
      return { ...row, gpu_uuids_json: next.gpu_uuids_json, memory_mb: next.memory_mb };
    });
    try {
      return await fn(claimed);
    } finally {
      this.claims.delete(row.id);
    }
  }

  /** Its memory may hold secret values, so whatever is written of it to disk gets encrypted. */
  holdsSecrets(row: SandboxRow): boolean {
    return (JSON.parse(row.secrets_json) as string[]).length > 0;
  }

  /** The secret values a sandbox's processes get, opened for this one use. */
  async secretEnv(row: SandboxRow): Promise<Record<string, string>> {
    return this.deps.secrets.env(row.owner_id, JSON.parse(row.secrets_json) as string[]);
  }

  /** The sandbox, checked to allow `action` in its current status. */
  async require(name: string, action: SandboxAction, actor: Actor = SYSTEM): Promise<{ row: SandboxRow; def: SandboxDefinition }> {
    const row = await this.row(name, actor);
    assertAllowed(name, row.status as SandboxStatus, action);
    return { row, def: this.definition(row) };
  }

  async create(req: CreateSandboxT, actor: Actor, op: LongOperation = {}): Promise<SandboxT> {
    const { capacity, images, runtime, secrets } = this.deps;
    const name = req.name ? validateName('sandbox', req.name) : await this.freshName();
    const image = req.image ?? DEBIAN_IMAGE;
    const gpus = req.gpus === undefined ? undefined : parseGpuRequest(req.gpus);
    const host = req.host ?? (await this.place({ cpus: req.cpus ?? null, memoryMb: req.memoryMb ?? null, gpus }));
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
   * A sandbox on a fleet host: the record here is made first (so the name is
   * taken), the host's agent creates and runs it, and the record follows what
   * the agent reports. A failure there leaves no record here.
   */
  private async createElsewhere(
    host: string,
    req: Omit<CreateSandboxT, 'cpus' | 'memoryMb' | 'diskMb'> & { name: string; image: string; cpus: number | null; memoryMb: number | null; diskMb: number | null },
    actor: Actor,
  ): Promise<SandboxT> {
    if (req.secrets?.length)
      throw new BothubError(
        'INVALID_INPUT',
        `sandboxes with secrets run on the control plane's own machine for now (secret values never leave it); drop --host ${host} or the secrets`,
      );
    if (req.network === 'peers') throw new BothubError('INVALID_INPUT', `a peers network joins sandboxes of one machine; drop --host ${host} or use --network default`);
    const agent = await this.remote.agent(host);
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
    try {
      const { host: _h, ...body } = req;
      // The quota may have given it a memory limit: the agent's record keeps the same one.
      const there = await agent.call('createSandbox', { body: { ...body, cpus: req.cpus ?? undefined, memoryMb: row.memory_mb ?? undefined, diskMb: req.diskMb ?? undefined } });
      return this.present(await this.follow(row.id, there));
    } catch (e) {
      await this.forget(row);
      throw e;
    }
  }

  /** Brings a record of a sandbox on a fleet host in line with what its agent says of it. */
  async follow(id: string, there: SandboxT): Promise<SandboxRow> {
    return this.setStatus(id, there.status, there.statusReason, {
      address: there.address,
      thermal: there.thermal,
      started_at: there.startedAt,
      gpus: there.gpus.length,
      gpu_uuids_json: JSON.stringify(there.gpus),
    });
  }

  /** What a host's agent reported at its heartbeat; sandboxes it no longer knows are marked so, never dropped. */
  async mirror(host: string, there: SandboxT[]): Promise<void> {
    const byName = new Map(there.map((s) => [s.name, s]));
    const rows = await this.deps.db.selectFrom('sandboxes').selectAll().where('host', '=', host).execute();
    for (const row of rows) {
      if (row.status === 'moving' || row.status === 'creating') continue;
      const s = byName.get(row.name);
      if (s) {
        const changed = s.status !== row.status || s.thermal !== row.thermal || s.address !== row.address || s.statusReason !== row.status_reason;
        if (changed || JSON.stringify(s.gpus) !== row.gpu_uuids_json) await this.follow(row.id, s);
      } else if (row.status !== 'error') {
        await this.setStatus(row.id, 'error', `host "${host}"'s agent no longer has this sandbox; destroy it with \`bothub destroy ${row.name}\``);
      }
    }
  }

  /** Takes a local address for a record coming to this machine (a move here). */
  async placeLocally(row: SandboxRow): Promise<SandboxRow> {
    return this.deps.db.transaction().execute(async (tx) => {
      let address: string | null = null;
      if (row.network !== 'none') {
        const used = await tx.selectFrom('sandboxes').select('address').where('host', '=', LOCAL).where('address', 'is not', null).execute();
        address = allocateAddress(this.deps.subnet, new Set(used.map((u) => u.address!)));
      }
      await tx.updateTable('sandboxes').set({ host: LOCAL, address }).where('id', '=', row.id).execute();
      return tx.selectFrom('sandboxes').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    });
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
    await this.deps.db.deleteFrom('sandboxes').where('id', '=', row.id).execute();
    await this.deps.db.deleteFrom('execs').where('sandbox_id', '=', row.id).execute();
    await this.onChange(row, undefined);
    if (row.network === 'peers') await this.syncPeers();
  }

  /**
   * Rewrites the host's peer rules from the records: each owner's `peers`
   * sandboxes reach each other. Serialized, and each run reads the latest
   * records, so the last write is always the current truth.
   */
  syncPeers(): Promise<void> {
    // A failed run must not stop later ones: each starts from the records afresh.
    this.peerSync = this.peerSync
      .catch(() => undefined)
      .then(async () => {
        const rows = await this.deps.db
          .selectFrom('sandboxes')
          .select(['owner_id', 'address'])
          .where('host', '=', LOCAL)
          .where('network', '=', 'peers')
          .where('address', 'is not', null)
          .execute();
        const groups = new Map<string, string[]>();
        for (const r of rows) groups.set(r.owner_id ?? '', [...(groups.get(r.owner_id ?? '') ?? []), r.address!]);
        await this.deps.runtime.writePeerRules([...groups.values()]);
      });
    return this.peerSync;
  }

  /**
   * Inserts the record, taking a free address (and its GPUs: as asked for, or
   * as many as its spec says) and its place in its owner's quota in the same
   * transaction: every new sandbox (a create, a branch, an import) comes here.
   */
  async insert(row: SandboxRow, gpuClaim?: GpuClaim): Promise<SandboxRow> {
    const claim = gpuClaim ?? (row.gpus > 0 ? { request: { kind: 'count' as const, count: row.gpus } } : undefined);
    const gpus = claim && row.host === LOCAL ? await this.deps.gpus() : null;
    try {
      return await this.deps.db
        .transaction()
        .execute(async (tx) => {
          if (claim && row.host === LOCAL) {
            const uuids = await this.chooseGpus(tx, row.id, claim, gpus);
            row.gpus = uuids.length;
            row.gpu_uuids_json = JSON.stringify(uuids);
          }
          if (row.network !== 'none' && row.host === LOCAL) {
            const used = await tx.selectFrom('sandboxes').select('address').where('host', '=', LOCAL).where('address', 'is not', null).execute();
            row.address = allocateAddress(this.deps.subnet, new Set(used.map((u) => u.address!)));
          }
          row = await enforceQuota(tx, row, this.claims);
          await tx.insertInto('sandboxes').values(row).execute();
          return row;
        })
        .then(async (inserted) => {
          await this.onChange(undefined, inserted);
          if (inserted.network === 'peers') await this.syncPeers();
          return inserted;
        });
    } catch (e) {
      if (/UNIQUE constraint failed: sandboxes.name/.test(String(e))) {
        throw new BothubError('NAME_TAKEN', `a sandbox named "${row.name}" already exists; pick another --name or destroy it with \`bothub destroy ${row.name}\``);
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
    throw new BothubError('INTERNAL', 'could not generate a free sandbox name; give one with --name');
  }

  async setStatus(id: string, status: SandboxStatus, reason: string | null, extra: Partial<SandboxRow> = {}): Promise<SandboxRow> {
    const before = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst();
    await this.deps.db
      .updateTable('sandboxes')
      .set({ ...extra, status, status_reason: reason, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .execute();
    const after = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    if (before) await this.onChange(before, after);
    return after;
  }

  /** Forgets a cold sandbox's disk state; set by the thermal service. */
  discardCold: (id: string) => Promise<void> = async () => undefined;

  async stop(name: string, actor: Actor): Promise<SandboxT> {
    const { row } = await this.require(name, 'stop', actor);
    return this.lock.run(row.id, async () => {
      const { row: now, def } = await this.require(name, 'stop', actor);
      // A frozen sandbox cannot act on SIGTERM: thaw it first. A cold one has no processes to stop.
      if (now.thermal === 'warm') await this.deps.runtime.cgroup(now.id).setFrozen(false);
      if (now.thermal === 'cold') await this.discardCold(now.id);
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
      try {
        if (row.host !== LOCAL) await this.remote.destroy(row).catch((e: BothubError) => (e.code === 'NOT_FOUND' ? undefined : Promise.reject(e)));
        else {
          // Recorded first: a crash past this point leaves a record the next start finishes destroying, never a half-removed sandbox that looks alive.
          await this.setStatus(row.id, 'error', DESTROY_CUT_SHORT);
          await this.discardCold(row.id);
          await this.deps.runtime.destroy(this.definition(row));
        }
      } catch (e) {
        await this.setStatus(row.id, 'error', `destroy failed: ${(e as Error).message}`);
        throw e;
      }
      await this.deps.db.deleteFrom('publications').where('sandbox_id', '=', row.id).execute();
      await this.forget(row);
    });
  }

  /**
   * Brings the records in line with what runc reports. At startup a record
   * still 'creating' is a create the daemon died in: it is rolled back.
   */
  async reconcile(atStartup: boolean): Promise<void> {
    const { db, runtime, log } = this.deps;
    const states = new Map((await runtime.runc.list()).map((s) => [s.id, s]));
    const rows = await db.selectFrom('sandboxes').selectAll().where('host', '=', LOCAL).execute();
    const known = new Set(rows.map((r) => containerId(r.id)));
    const mounts = new Set(atStartup ? await mountsUnder(runtime.paths('').dir) : []);
    if (atStartup) {
      // A move the daemon died in: the sandbox is still where it was (cold there); the next request wakes it.
      // (One the move journal holds is the move recovery's: it finishes or undoes it.)
      const moving = await db.selectFrom('sandboxes').select(['id', 'name']).where('status', '=', 'moving').where('id', 'not in', db.selectFrom('moves').select('sandbox_id')).execute();
      for (const m of moving) {
        log.warn({ sandbox: m.name }, 'a move was interrupted by a daemon stop; the sandbox stays where it was');
        await this.setStatus(m.id, 'running', 'a move to another host was interrupted; it stayed here');
      }
    }
    for (const row of rows) {
      if (atStartup && row.status === 'error' && row.status_reason === DESTROY_CUT_SHORT) {
        log.warn({ sandbox: row.name }, 'finishing a destroy interrupted by a daemon stop');
        await this.destroy(row.name, SYSTEM).catch((err) => log.error({ err, sandbox: row.name }, 'finishing a destroy failed'));
        continue;
      }
      const state = states.get(containerId(row.id));
      if (row.status === 'creating' && atStartup) {
        log.warn({ sandbox: row.name }, 'rolling back a create interrupted by a daemon stop');
        await runtime.destroy(this.definition(row)).catch((err) => log.error({ err, sandbox: row.name }, 'rollback failed'));
        await this.forget(row);
        continue;
      }
      if (!expectsContainer(row)) {
        if (atStartup && LEFT_OVER_FROM.has(row.status) && (state || mounts.has(runtime.paths(row.id).rootfs) || existsSync(join(runtime.runc.root, containerId(row.id))))) {
          // A start or restore the daemon died in left a container, a mount or a cgroup; the namespace of a snapshotted one stays for its restore.
          log.warn({ sandbox: row.name }, 'removing what an interrupted start or restore left');
          await runtime.release({ ...this.definition(row), address: row.status === 'snapshotted' ? null : row.address }).catch((err) => log.error({ err, sandbox: row.name }, 'release failed'));
        } else if (atStartup && !state)
          await runtime.releaseMounts(row).catch((err) => log.error({ err, sandbox: row.name }, 'releasing the mounts of a sandbox without a container failed'));
        continue;
      }
      if (atStartup && state?.status === 'paused' && row.thermal !== 'warm') {
        // Frozen by a snapshot the daemon died in: thaw it.
        log.warn({ sandbox: row.name }, 'thawing a sandbox left frozen by an interrupted snapshot');
        await runtime.runc.resume(containerId(row.id));
        continue;
      }
      const alive = state && (state.status === 'running' || state.status === 'paused');
      if (alive) continue;
      await this.lock.run(row.id, async () => {
        // The list above was read outside the lock: a freeze, stop or move may have
        // removed the container on purpose since, and that is not a death.
        const fresh = await db.selectFrom('sandboxes').selectAll().where('id', '=', row.id).executeTakeFirst();
        if (!fresh || !expectsContainer(fresh)) return;
        const still = await runtime.state(row);
        if (still && still.status !== 'stopped') return;
        log.warn({ sandbox: row.name }, 'sandbox processes vanished; marking it exited');
        await runtime.release(this.definition(fresh)).catch((err) => log.error({ err, sandbox: row.name }, 'releasing a vanished sandbox failed'));
        await this.setStatus(row.id, 'exited', 'its processes are gone (init exited or was killed); start it again with `bothub start NAME`', { started_at: null });
      });
    }
    if (atStartup) {
      for (const id of states.keys()) {
        if (known.has(id)) continue;
        log.warn({ container: id }, 'removing a container no sandbox record owns');
        await runtime.runc.delete(id).catch(() => undefined);
      }
      const detached = await runtime.detachStrayLoops().catch((err) => (log.error({ err }, 'detaching stray loop devices failed'), []));
      if (detached.length) log.warn({ devices: detached }, 'detached loop devices nothing mounted');
    }
  }
}
