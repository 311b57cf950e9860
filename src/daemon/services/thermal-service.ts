import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError, systemClock, type Actor, type Clock, type SandboxAction } from '../../core/index.js';
import { SNAPSHOT_PARTS, type Checkpointer, type SandboxDefinition, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import { coldImageIn, type ColdImages } from './cold-images.js';
import type { EventLog } from './event-log.js';
import type { LazyRestores } from './lazy-restores.js';
import type { SandboxService } from './sandbox-service.js';
import type { ScratchCopy } from './scratch-copy.js';

export type Thermal = 'hot' | 'warm' | 'cold';

export interface ThermalDefaults {
  /** Idle time before a sandbox is frozen in place; 0 disables. */
  idleWarmMs: number;
  /** Idle time before it is put on disk; 0 disables. */
  idleColdMs: number;
}

export interface ThermalDeps {
  db: Db;
  sandboxes: SandboxService;
  runtime: SandboxRuntime;
  checkpointer: Checkpointer;
  events: EventLog;
  /** Where cold sandboxes keep their on-disk state. */
  dir: string;
  defaults: ThermalDefaults;
  /** Keys for encrypted images, derived from the master key. */
  deriveKey: (purpose: string) => Buffer;
  log: Logger;
  /** What idle time is measured by (tests pass a ManualClock). */
  clock?: Clock;
  /** Wakes restore lazily when it is enabled; its images stay until every page is in. */
  lazy?: LazyRestores;
  /** The snapshot store's side for cold images (made after this service, hence a closure); without it images stay whole. */
  coldImages?: () => ColdImages;
}

const coldKeyPurpose = (sandboxId: string) => `cold-images:${sandboxId}`;

const TICK_MS = 500;

/**
 * Idle sandboxes cool down by themselves: hot (running) → warm (cgroup
 * frozen: no CPU, memory kept) → cold (checkpointed to disk, processes gone,
 * memory free). Anything that needs the sandbox wakes it first; concurrent
 * wakers share one wake.
 */
export class ThermalService {
  private readonly lastActive = new Map<string, number>();
  /** Touched since the last flush to the database. */
  private readonly dirty = new Set<string>();
  private readonly waking = new Map<string, Promise<SandboxRow>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private current: Promise<void> = Promise.resolve();

  private readonly clock: Clock;

  constructor(private readonly deps: ThermalDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  coldDir(id: string): string {
    return join(this.deps.dir, id);
  }

  /** Marks activity: the idle clock starts again. */
  touch(id: string): void {
    this.lastActive.set(id, this.clock.now());
    this.dirty.add(id);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.ticking) this.current = this.tick().catch((err: unknown) => this.deps.log.warn({ err }, 'a thermal tick failed'));
    }, TICK_MS);
    this.timer.unref();
  }

  /** Waits for a tick in progress: the daemon closes the database right after. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.current;
  }

  /**
   * The sandbox, awake and allowed to do `action`: what every route that
   * needs running processes calls. Counts as activity.
   */
  async ready(name: string, action: SandboxAction, actor: Actor, known?: SandboxRow): Promise<{ row: SandboxRow; def: SandboxDefinition }> {
    const found = await this.deps.sandboxes.require(name, action, actor, known);
    if (found.row.thermal === 'hot') {
      this.touch(found.row.id);
      return found;
    }
    const row = await this.wake(found.row);
    this.touch(row.id);
    return { row, def: this.deps.sandboxes.definition(row) };
  }

  /** Wakes a warm or cold sandbox; many callers during one wake share it. */
  wake(row: SandboxRow): Promise<SandboxRow> {
    let pending = this.waking.get(row.id);
    if (!pending) {
      pending = this.deps.sandboxes.lock.run(row.id, () => this.wakeLocked(row.id)).finally(() => this.waking.delete(row.id));
      this.waking.set(row.id, pending);
    }
    return pending;
  }

  private async fresh(id: string): Promise<SandboxRow> {
    return this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  private async wakeLocked(id: string): Promise<SandboxRow> {
    const row = await this.fresh(id);
    const started = performance.now();
    if (row.thermal === 'warm') {
      await this.deps.runtime.cgroup(row.id).setFrozen(false);
    } else if (row.thermal === 'cold') {
      // Its GPUs were let go while it slept: it claims them (or others of the model) again, within its owner's quota.
      return this.deps.sandboxes.claim(row, async (claimed) => {
        const lazy = this.deps.lazy;
        let image: ScratchCopy | undefined;
        let tail;
        try {
          // A cold image in the store is put together first; every chunk is checked before the sandbox is touched.
          image = this.deps.coldImages ? await this.deps.coldImages().open(row.name, this.coldDir(row.id), { lazy: lazy?.enabled }) : { dir: this.coldDir(row.id), release: async () => undefined };
          const key = this.deps.deriveKey(coldKeyPurpose(row.id));
          tail = await this.deps.checkpointer.restore(this.deps.sandboxes.definition(claimed), image.dir, { branch: false, key, lazy: lazy?.enabled && !image.eager, pages: image.pages });
        } catch (e) {
          await image?.release();
          await this.deps.events.record(row, 'wake-failed', (e as Error).message);
          throw new BothubError('RUNTIME_FAILED', `waking sandbox "${row.name}" failed: ${(e as Error).message}; it stays cold — try again, or stop and start it`);
        }
        // Its cold images go once every page is in (the put-together copy once the transfer ends); until then a failed transfer can put it back to cold.
        const discard = () => this.discard(row.id);
        if (lazy && tail) void lazy.follow(row, tail, { onFailure: 'cold', source: 'its cold images', onIn: discard, always: image.release });
        else {
          await image.release();
          await discard();
        }
        return this.woke(row, started);
      });
    } else {
      return row;
    }
    return this.woke(row, started);
  }

  private async woke(row: SandboxRow, started: number): Promise<SandboxRow> {
    const ms = Math.round(performance.now() - started);
    await this.deps.events.record(row, 'woke', `from ${row.thermal} in ${ms} ms`);
    this.touch(row.id);
    return this.deps.sandboxes.setStatus(row.id, row.status, row.status_reason, { thermal: 'hot' });
  }

  /** hot → warm: frozen in place. */
  async pause(row: SandboxRow, reason: string): Promise<SandboxRow> {
    return this.deps.sandboxes.lock.run(row.id, async () => {
      const now = await this.fresh(row.id);
      if (now.status !== 'running' || now.thermal !== 'hot') return now;
      await this.deps.runtime.cgroup(row.id).setFrozen(true);
      await this.deps.events.record(now, 'warm', reason);
      return this.deps.sandboxes.setStatus(row.id, 'running', null, { thermal: 'warm' });
    });
  }

  /** warm → hot, by hand. */
  async resume(row: SandboxRow): Promise<SandboxRow> {
    const woke = await this.wake(row);
    this.touch(row.id);
    return woke;
  }

  /**
   * hot or warm → cold: checkpointed to disk, every process gone, the address
   * kept. A move leaves it in status `moving` instead, so nothing wakes it here.
   */
  async freeze(row: SandboxRow, reason: string, status: 'running' | 'moving' = 'running'): Promise<SandboxRow> {
    return this.deps.sandboxes.lock.run(row.id, async () => {
      const now = await this.fresh(row.id);
      if (now.status !== 'running') return now;
      if (now.thermal === 'cold') return this.deps.sandboxes.setStatus(now.id, status, null);
      if (this.deps.sandboxes.attachedExecs(now.id))
        throw new BothubError('INVALID_STATE', `sandbox "${now.name}" has commands attached to a client; it cannot go cold until they finish`);
      await this.deps.lazy?.settled(now.id, now.name);
      if (now.thermal === 'warm') await this.deps.runtime.cgroup(now.id).setFrozen(false);
      const dir = this.coldDir(now.id);
      await rm(dir, { recursive: true, force: true });
      const def = this.deps.sandboxes.definition(now);
      const key = this.deps.sandboxes.holdsSecrets(now) ? this.deps.deriveKey(coldKeyPurpose(now.id)) : undefined;
      try {
        await this.deps.checkpointer.checkpoint(def, dir, { leaveRunning: false, key });
      } catch (e) {
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
      // Into the store, like a snapshot's files (encrypted and GPU images stay whole, as their snapshots do, unless the store is S3).
      if (this.deps.coldImages && ((!key && !def.gpus.length) || this.deps.coldImages().keepsEverything))
        await this.deps
          .coldImages()
          .ingest(now.id, dir)
          .catch((err: unknown) => this.deps.log.warn({ err, sandbox: now.name }, 'a cold image could not go into the snapshot store; it stays whole on disk'));
      await this.deps.events.record(now, 'cold', reason);
      return this.deps.sandboxes.setStatus(now.id, status, null, { thermal: 'cold' });
    });
  }

  /**
   * At start-up, before the records are reconciled with runc: a freeze or a
   * wake the daemon died in is finished or undone by what is on disk. A freeze
   * whose dump completed (CRIU had written its inventory and ended the
   * processes) is cold; one cut short left its processes running, and its
   * partial checkpoint goes. A wake whose restore completed is hot, and its
   * checkpoint goes.
   */
  async recover(): Promise<void> {
    const { db, runtime, log } = this.deps;
    const rows = new Map((await db.selectFrom('sandboxes').selectAll().where('host', '=', 'local').execute()).map((r) => [r.id, r]));
    const dirs = new Set(await readdir(this.deps.dir).catch(() => [] as string[]));
    for (const id of new Set([...dirs, ...[...rows.values()].filter((r) => r.thermal === 'cold').map((r) => r.id)])) {
      const row = rows.get(id);
      const state = row && (await runtime.state(row));
      const alive = state?.status === 'running' || state?.status === 'paused';
      const complete =
        existsSync(join(this.coldDir(id), SNAPSHOT_PARTS.criu, 'inventory.img')) || existsSync(join(this.coldDir(id), SNAPSHOT_PARTS.sealedMarker)) || coldImageIn(this.coldDir(id));
      if (row?.status === 'running' && row.thermal === 'cold' && alive) {
        log.warn({ sandbox: row.name }, 'a wake was interrupted after its restore: the sandbox is hot');
        await this.deps.sandboxes.setStatus(id, 'running', row.status_reason, { thermal: 'hot' });
      } else if (row?.status === 'running' && row.thermal !== 'cold' && !alive && complete) {
        log.warn({ sandbox: row.name }, 'a freeze was interrupted after its checkpoint: the sandbox is cold');
        await runtime.release({ ...this.deps.sandboxes.definition(row), address: null });
        await this.deps.sandboxes.setStatus(id, 'running', row.status_reason, { thermal: 'cold' });
        continue;
      } else if (row?.thermal === 'cold' && row.status === 'running') {
        // A restore cut short may have left a dead container or a mount: the next wake needs neither.
        await runtime.release({ ...this.deps.sandboxes.definition(row), address: null });
        continue;
      } else if (row?.status === 'moving') {
        continue; // a move's checkpoint, settled by the move recovery
      } else if (dirs.has(id)) {
        log.warn({ sandbox: row?.name, id }, 'removing the checkpoint of an interrupted freeze or wake');
      }
      await rm(this.coldDir(id), { recursive: true, force: true });
    }
    // References of cold images removed above (or by a crash) go; the cache keeps to its bound.
    await this.deps.coldImages?.().sweep((id) => this.coldDir(id));
  }

  /** Forgets a cold sandbox's disk state (it was stopped or destroyed instead of woken). */
  async discard(id: string): Promise<void> {
    if (this.deps.coldImages) await this.deps.coldImages().release(id, this.coldDir(id));
    else if (existsSync(this.coldDir(id))) await rm(this.coldDir(id), { recursive: true, force: true });
  }

  /** Cools whatever has been idle long enough. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const rows = await this.deps.db
        .selectFrom('sandboxes')
        .selectAll()
        .where('host', '=', 'local')
        .where('status', '=', 'running')
        .where('keep_hot', '=', 0)
        .where('thermal', '!=', 'cold')
        .execute();
      const now = this.clock.now();
      for (const row of rows) {
        const last = this.lastActive.get(row.id) ?? Date.parse(row.last_active_at ?? row.started_at ?? row.created_at);
        const idle = now - last;
        const warmAfter = row.idle_warm_ms ?? this.deps.defaults.idleWarmMs;
        const coldAfter = row.idle_cold_ms ?? this.deps.defaults.idleColdMs;
        try {
          if (coldAfter > 0 && idle >= coldAfter) await this.freeze(row, `idle for ${Math.round(idle / 1000)} s`);
          else if (warmAfter > 0 && idle >= warmAfter && row.thermal === 'hot') await this.pause(row, `idle for ${Math.round(idle / 1000)} s`);
        } catch (err) {
          this.deps.log.warn({ err, sandbox: row.name }, 'cooling a sandbox failed; it stays as it is');
          this.touch(row.id);
        }
      }
      await this.flush();
    } finally {
      this.ticking = false;
    }
  }

  /** Keeps idle clocks across daemon restarts. */
  async flush(): Promise<void> {
    for (const id of [...this.dirty]) {
      this.dirty.delete(id);
      await this.deps.db
        .updateTable('sandboxes')
        .set({ last_active_at: new Date(this.lastActive.get(id)!).toISOString() })
        .where('id', '=', id)
        .execute();
    }
  }
}
