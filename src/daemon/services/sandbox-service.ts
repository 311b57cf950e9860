import { randomBytes, randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import {
  allocateAddress,
  assertAllowed,
  BothubError,
  DEFAULT_PIDS_LIMIT,
  generateName,
  notFound,
  validateCpus,
  validateMemoryMb,
  validateName,
  type HostCapacity,
  type SandboxAction,
  type SandboxStatus,
  type Subnet,
} from '../../core/index.js';
import type { CreateSandboxT, SandboxT } from '../../api/index.js';
import { containerId, DEBIAN_IMAGE, type ImageStore, type LongOperation, type SandboxDefinition, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import { KeyedMutex } from './keyed-mutex.js';

export interface SandboxServiceDeps {
  db: Db;
  runtime: SandboxRuntime;
  images: ImageStore;
  subnet: Subnet;
  capacity: HostCapacity;
  log: Logger;
}

const NOT_FOUND_HINT = 'see `bothub list`';

export function toApi(row: SandboxRow): SandboxT {
  return {
    id: row.id,
    name: row.name,
    status: row.status as SandboxStatus,
    statusReason: row.status_reason,
    image: row.image,
    cpus: row.cpus,
    memoryMb: row.memory_mb,
    pidsLimit: row.pids_limit,
    network: row.network as 'default' | 'none',
    address: row.address,
    command: JSON.parse(row.command_json) as string[],
    env: JSON.parse(row.env_json) as Record<string, string>,
    createdAt: row.created_at,
    startedAt: row.started_at,
  };
}

/**
 * The sandbox lifecycle as users see it: records in SQLite kept in step with
 * what runc runs. Operations on one sandbox are serialized.
 */
export class SandboxService {
  readonly lock = new KeyedMutex();
  /** Commands with a live connection to init, per sandbox id: CRIU cannot checkpoint those connections. */
  private readonly attached = new Map<string, number>();

  execAttached(id: string, delta: 1 | -1): void {
    const n = (this.attached.get(id) ?? 0) + delta;
    if (n > 0) this.attached.set(id, n);
    else this.attached.delete(id);
  }

  attachedExecs(id: string): number {
    return this.attached.get(id) ?? 0;
  }

  constructor(private readonly deps: SandboxServiceDeps) {}

  async list(): Promise<SandboxT[]> {
    const rows = await this.deps.db.selectFrom('sandboxes').selectAll().orderBy('created_at').execute();
    return rows.map(toApi);
  }

  async row(name: string): Promise<SandboxRow> {
    const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound('sandbox', name, NOT_FOUND_HINT);
    return row;
  }

  async get(name: string): Promise<SandboxT> {
    return toApi(await this.row(name));
  }

  definition(row: SandboxRow): SandboxDefinition {
    return {
      id: row.id,
      name: row.name,
      imageRootfs: this.deps.images.rootfs(row.image),
      command: JSON.parse(row.command_json) as string[],
      env: JSON.parse(row.env_json) as Record<string, string>,
      cpus: row.cpus,
      memoryMb: row.memory_mb,
      pidsLimit: row.pids_limit,
      address: row.address,
    };
  }

  /** The sandbox, checked to allow `action` in its current status. */
  async require(name: string, action: SandboxAction): Promise<{ row: SandboxRow; def: SandboxDefinition }> {
    const row = await this.row(name);
    assertAllowed(name, row.status as SandboxStatus, action);
    return { row, def: this.definition(row) };
  }

  async create(req: CreateSandboxT, op: LongOperation = {}): Promise<SandboxT> {
    const { capacity, db, images, runtime } = this.deps;
    const name = req.name ? validateName('sandbox', req.name) : await this.freshName();
    const image = req.image ?? DEBIAN_IMAGE;
    const cpus = req.cpus === undefined ? null : validateCpus(req.cpus, capacity);
    const memoryMb = req.memoryMb === undefined ? null : validateMemoryMb(req.memoryMb, capacity);
    if (image === DEBIAN_IMAGE) await images.ensureDebian(op);
    else await images.require(image);

    const row = await this.insert({
      id: randomBytes(6).toString('hex'),
      name,
      image,
      status: 'creating',
      status_reason: null,
      cpus,
      memory_mb: memoryMb,
      pids_limit: DEFAULT_PIDS_LIMIT,
      network: req.network ?? 'default',
      address: null,
      command_json: JSON.stringify(req.command ?? []),
      env_json: JSON.stringify(req.env ?? {}),
      created_at: new Date().toISOString(),
      started_at: null,
      updated_at: new Date().toISOString(),
      snapshot_id: null,
    });
    return this.lock.run(row.id, async () => {
      try {
        await runtime.create(this.definition(row), op);
      } catch (e) {
        // The runtime undid its own steps; the record goes too, so the name is free again.
        await db.deleteFrom('sandboxes').where('id', '=', row.id).execute();
        throw e;
      }
      return toApi(await this.setStatus(row.id, 'running', null, { started_at: new Date().toISOString() }));
    });
  }

  async insert(row: SandboxRow): Promise<SandboxRow> {
    try {
      return await this.deps.db.transaction().execute(async (tx) => {
        if (row.network === 'default') {
          const used = await tx.selectFrom('sandboxes').select('address').where('address', 'is not', null).execute();
          row.address = allocateAddress(this.deps.subnet, new Set(used.map((u) => u.address!)));
        }
        await tx.insertInto('sandboxes').values(row).execute();
        return row;
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
    await this.deps.db
      .updateTable('sandboxes')
      .set({ ...extra, status, status_reason: reason, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .execute();
    return this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async stop(name: string): Promise<SandboxT> {
    const { row } = await this.require(name, 'stop');
    return this.lock.run(row.id, async () => {
      const { def } = await this.require(name, 'stop');
      await this.deps.runtime.stop(def);
      return toApi(await this.setStatus(row.id, 'stopped', null, { started_at: null }));
    });
  }

  async start(name: string, op: LongOperation = {}): Promise<SandboxT> {
    const { row } = await this.require(name, 'start');
    return this.lock.run(row.id, async () => {
      const { def } = await this.require(name, 'start');
      // Whatever a crash left (a dead container, a mount) goes before the new start.
      await this.deps.runtime.release(def);
      await this.deps.runtime.start(def, op);
      return toApi(await this.setStatus(row.id, 'running', null, { started_at: new Date().toISOString() }));
    });
  }

  async destroy(name: string): Promise<void> {
    const { row } = await this.require(name, 'destroy');
    await this.lock.run(row.id, async () => {
      try {
        await this.deps.runtime.destroy(this.definition(row));
      } catch (e) {
        await this.setStatus(row.id, 'error', `destroy failed: ${(e as Error).message}`);
        throw e;
      }
      await this.deps.db.deleteFrom('sandboxes').where('id', '=', row.id).execute();
    });
  }

  /**
   * Brings the records in line with what runc reports. At startup a record
   * still 'creating' is a create the daemon died in: it is rolled back.
   */
  async reconcile(atStartup: boolean): Promise<void> {
    const { db, runtime, log } = this.deps;
    const states = new Map((await runtime.runc.list()).map((s) => [s.id, s]));
    const rows = await db.selectFrom('sandboxes').selectAll().execute();
    const known = new Set(rows.map((r) => containerId(r.id)));
    for (const row of rows) {
      const state = states.get(containerId(row.id));
      if (row.status === 'creating' && atStartup) {
        log.warn({ sandbox: row.name }, 'rolling back a create interrupted by a daemon stop');
        await runtime.destroy(this.definition(row)).catch((err) => log.error({ err, sandbox: row.name }, 'rollback failed'));
        await db.deleteFrom('sandboxes').where('id', '=', row.id).execute();
        continue;
      }
      if (row.status !== 'running') continue;
      if (atStartup && state?.status === 'paused') {
        // Frozen by a snapshot the daemon died in: thaw it.
        log.warn({ sandbox: row.name }, 'thawing a sandbox left frozen by an interrupted snapshot');
        await runtime.runc.resume(containerId(row.id));
        continue;
      }
      const alive = state && (state.status === 'running' || state.status === 'paused');
      if (alive) continue;
      await this.lock.run(row.id, async () => {
        const fresh = await db.selectFrom('sandboxes').selectAll().where('id', '=', row.id).executeTakeFirst();
        if (fresh?.status !== 'running') return;
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
    }
  }
}
