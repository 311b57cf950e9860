import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SYSTEM, type SandboxStatus } from '../../core/index.js';
import { containerId, type SandboxDefinition, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import type { KeyedMutex } from './keyed-mutex.js';
import { LOCAL } from './sandbox-records.js';

/** The status reason of a sandbox being destroyed; one a crash cut short is destroyed at the next start. */
export const DESTROY_CUT_SHORT = 'being destroyed (if this stays, the destroy was cut short: destroy it again)';

/** Statuses with no container, in which a start or restore cut short may have left one. */
const LEFT_OVER_FROM = new Set(['stopped', 'exited', 'snapshotted']);

/**
 * Whether a record says a container should exist here: a cold sandbox has none on
 * purpose (a warm one is frozen on purpose), and a moved one lives on another host.
 */
const expectsContainer = (row: SandboxRow) => row.host === LOCAL && row.status === 'running' && row.thermal !== 'cold';

/** What the reconciler does to sandboxes, through the sandbox service (under its locks, with its events). */
export interface ReconciledSandboxes {
  readonly lock: KeyedMutex;
  definition(row: SandboxRow): SandboxDefinition;
  setStatus(id: string, status: SandboxStatus, reason: string | null, extra?: Partial<SandboxRow>): Promise<SandboxRow>;
  destroy(name: string, actor: typeof SYSTEM): Promise<void>;
  forget(row: SandboxRow): Promise<void>;
}

/**
 * Brings the records in line with what runc reports: periodically (a sandbox
 * whose processes vanished is marked exited), and at start-up, when it also
 * finishes or rolls back what a daemon stop cut short.
 */
export class SandboxReconciler {
  constructor(private readonly deps: { db: Db; runtime: SandboxRuntime; sandboxes: ReconciledSandboxes; log: Logger }) {}

  /** At startup a record still 'creating' is a create the daemon died in: it is rolled back. */
  async reconcile(atStartup: boolean): Promise<void> {
    const { db, runtime, log, sandboxes } = this.deps;
    const states = new Map((await runtime.runc.list()).map((s) => [s.id, s]));
    const rows = await db.selectFrom('sandboxes').selectAll().where('host', '=', LOCAL).execute();
    const known = new Set(rows.map((r) => containerId(r.id)));
    const mounts = new Set(atStartup ? await runtime.mountsUnder(runtime.paths('').dir) : []);
    if (atStartup) {
      // A move the daemon died in: the sandbox is still where it was (cold there); the next request wakes it.
      // (One the move journal holds is the move recovery's: it finishes or undoes it.)
      const moving = await db.selectFrom('sandboxes').select(['id', 'name']).where('status', '=', 'moving').where('id', 'not in', db.selectFrom('moves').select('sandbox_id')).execute();
      for (const m of moving) {
        log.warn({ sandbox: m.name }, 'a move was interrupted by a daemon stop; the sandbox stays where it was');
        await sandboxes.setStatus(m.id, 'running', 'a move to another host was interrupted; it stayed here');
      }
    }
    if (atStartup) {
      // A destroy on a fleet host the daemon died in: the agent may have finished its part already.
      const remote = await db.selectFrom('sandboxes').select('name').where('host', '!=', LOCAL).where('status', '=', 'error').where('status_reason', '=', DESTROY_CUT_SHORT).execute();
      for (const r of remote) {
        log.warn({ sandbox: r.name }, 'finishing a destroy interrupted by a daemon stop');
        await sandboxes.destroy(r.name, SYSTEM).catch((err) => log.error({ err, sandbox: r.name }, 'finishing a destroy failed'));
      }
    }
    for (const row of rows) {
      if (atStartup && row.status === 'error' && row.status_reason === DESTROY_CUT_SHORT) {
        log.warn({ sandbox: row.name }, 'finishing a destroy interrupted by a daemon stop');
        await sandboxes.destroy(row.name, SYSTEM).catch((err) => log.error({ err, sandbox: row.name }, 'finishing a destroy failed'));
        continue;
      }
      const state = states.get(containerId(row.id));
      if (row.status === 'creating' && atStartup) {
        log.warn({ sandbox: row.name }, 'rolling back a create interrupted by a daemon stop');
        await runtime.destroy(sandboxes.definition(row)).catch((err) => log.error({ err, sandbox: row.name }, 'rollback failed'));
        await sandboxes.forget(row);
        continue;
      }
      if (!expectsContainer(row)) {
        if (atStartup && LEFT_OVER_FROM.has(row.status) && (state || mounts.has(runtime.paths(row.id).rootfs) || existsSync(join(runtime.runc.root, containerId(row.id))))) {
          // A start or restore the daemon died in left a container, a mount or a cgroup; the namespace of a snapshotted one stays for its restore.
          log.warn({ sandbox: row.name }, 'removing what an interrupted start or restore left');
          await runtime.release({ ...sandboxes.definition(row), address: row.status === 'snapshotted' ? null : row.address }).catch((err) => log.error({ err, sandbox: row.name }, 'release failed'));
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
      if (atStartup && state?.status === 'running' && row.thermal === 'warm') {
        // A wake the daemon died in: the container runs again, only the record was not updated yet.
        log.warn({ sandbox: row.name }, 'finishing a wake interrupted by a daemon stop');
        await sandboxes.setStatus(row.id, row.status, row.status_reason, { thermal: 'hot' });
        continue;
      }
      const alive = state && (state.status === 'running' || state.status === 'paused');
      if (alive) continue;
      await sandboxes.lock.run(row.id, async () => {
        // The list above was read outside the lock: a freeze, stop or move may have
        // removed the container on purpose since, and that is not a death.
        const fresh = await db.selectFrom('sandboxes').selectAll().where('id', '=', row.id).executeTakeFirst();
        if (!fresh || !expectsContainer(fresh)) return;
        const still = await runtime.state(row);
        if (still && still.status !== 'stopped') return;
        log.warn({ sandbox: row.name }, 'sandbox processes vanished; marking it exited');
        await runtime.release(sandboxes.definition(fresh)).catch((err) => log.error({ err, sandbox: row.name }, 'releasing a vanished sandbox failed'));
        await sandboxes.setStatus(row.id, 'exited', `its processes are gone (init exited or was killed); start it again (\`POST /api/v1/sandboxes/${row.name}/start\`)`, { started_at: null });
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
