import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ExecRecordT } from '../../api/index.js';
import { parseFingerprint } from '../../core/fingerprint-json.js';
import { BothubError, checkCompatibility, gpuNeedsOf, type HostFingerprint } from '../../core/index.js';
import { LocalHost } from '../../hostexec/index.js';
import { copyTree, type LongOperation, type Progress } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import { incomingDir, travellingSpec } from '../fleet/import-service.js';
import type { EventLog } from '../services/event-log.js';
import type { HostEndpoint, HostService } from '../fleet/host-service.js';
import { chunkSide, shipColdImage } from '../fleet/chunk-shipping.js';
import type { SandboxService } from '../services/sandbox-service.js';

export interface ParkingDeps {
  db: Db;
  sandboxes: SandboxService;
  hosts: HostService;
  events: EventLog;
  /** Where parked sandboxes' checkpoints are kept on the control plane's machine. */
  dir: string;
  log: Logger;
}

/** Finds or rents a host that can restore a checkpoint of this fingerprint; its name. */
export type PickHost = (fp: HostFingerprint, row: SandboxRow, op: LongOperation) => Promise<string>;

/** The reason a parked sandbox shows. */
export const parkedReason = (host: string) => `parked: host "${host}" was released to stop its bill; its state is kept here and the next request places it on a host again`;

/**
 * Sandboxes of released rented hosts. Parking checkpoints a sandbox on its
 * host, copies the state here (sha256 checked on both sides) and only then
 * removes it there. Placing it again copies that state to another host and
 * restores it there, with its exec ledger; many requests during one placing
 * share it.
 */
export class Parking {
  /**
   * Hosts a parked sandbox is being placed on, until its record names them:
   * a host rented for it is empty until then, and must not be released as idle.
   */
  readonly arriving = new Set<string>();
  /** Placings under way, by sandbox id: one each, shared by the requests that wait on it. */
  private readonly placing = new Map<string, { done: Promise<SandboxRow>; listeners: Set<(p: Progress) => void> }>();

  constructor(private readonly deps: ParkingDeps) {}

  dirOf(id: string): string {
    return join(this.deps.dir, id);
  }

  async isParked(id: string): Promise<boolean> {
    return !!(await this.deps.db.selectFrom('parked_sandboxes').select('sandbox_id').where('sandbox_id', '=', id).executeTakeFirst());
  }

  /**
   * Brings one sandbox of `src` home. It is left in status `moving` (the
   * heartbeat leaves it alone) until `settle`, once its host is gone.
   */
  async park(row: SandboxRow, src: HostEndpoint, rentalId: string, op: LongOperation = {}): Promise<void> {
    const { sandboxes, db, events } = this.deps;
    const agent = src.agent!;
    await sandboxes.setStatus(row.id, 'moving', `being brought home from host "${src.name}"`);
    const dir = this.dirOf(row.id);
    try {
      op.onProgress?.({ step: 'checkpoint', message: row.name });
      const there = await agent.call('freezeSandbox', { params: { name: row.name } });
      const execs = await agent.call('listExecs', { params: { name: row.name } });
      op.onProgress?.({ step: 'transfer', message: row.name });
      // The agent keeps cold images as chunks (cold-images.ts): they are put together whole here.
      await shipColdImage(src.exec, chunkSide(src), join(src.dataDir, 'cold', there.id), new LocalHost(), { exec: new LocalHost() }, dir, op);
      await db
        .insertInto('parked_sandboxes')
        .values({ sandbox_id: row.id, rental_id: rentalId, execs_json: JSON.stringify(execs), fingerprint_json: JSON.stringify(src.fingerprint), parked_at: new Date().toISOString() })
        .execute();
    } catch (e) {
      // Nothing is lost: it stays (cold) on its host, which is not released.
      await rm(dir, { recursive: true, force: true });
      await sandboxes.setStatus(row.id, 'running', null, { thermal: 'cold' }).catch(() => undefined);
      throw new BothubError((e as BothubError).code ?? 'RUNTIME_FAILED', `bringing sandbox "${row.name}" home from host "${src.name}" failed: ${(e as Error).message}; the host is kept`);
    }
    // Its state is safe here (verified); the host's copy can go.
    await agent.call('destroySandbox', { params: { name: row.name } }).catch((err: Error) => this.deps.log.warn({ err, sandbox: row.name }, 'removing a parked sandbox from its host failed'));
    await events.record(row, 'parked', `state brought home from host "${src.name}"`);
  }

  /** Once its host is released: cold, with the reason saying where it is. */
  async settle(id: string, host: string): Promise<void> {
    await this.deps.sandboxes.setStatus(id, 'running', parkedReason(host), { thermal: 'cold' });
  }

  /**
   * Places a parked sandbox on a host and thaws it there. `pickHost` finds
   * or rents a host able to restore a checkpoint of that fingerprint. Every
   * request that comes meanwhile shares the one placing and sees its
   * progress; a caller that goes away does not cut it short (the next
   * request finds it placed).
   */
  async unpark(row: SandboxRow, pickHost: PickHost, onProgress?: (p: Progress) => void): Promise<SandboxRow> {
    let placing = this.placing.get(row.id);
    if (!placing) {
      const listeners = new Set<(p: Progress) => void>();
      const progress = (p: Progress) => {
        void this.deps.events.record(row, 'placing', `${p.step}${p.message ? `: ${p.message}` : ''}`).catch(() => undefined);
        for (const l of listeners) l(p);
      };
      const done = this.place(row, pickHost, { onProgress: progress }).finally(() => this.placing.delete(row.id));
      placing = { done, listeners };
      this.placing.set(row.id, placing);
    }
    if (onProgress) placing.listeners.add(onProgress);
    try {
      return await placing.done;
    } finally {
      if (onProgress) placing.listeners.delete(onProgress);
    }
  }

  private async place(row: SandboxRow, pickHost: PickHost, op: LongOperation): Promise<SandboxRow> {
    const { db, sandboxes, hosts, events } = this.deps;
    const parked = await db.selectFrom('parked_sandboxes').selectAll().where('sandbox_id', '=', row.id).executeTakeFirst();
    if (!parked) return sandboxes.row(row.name); // placed meanwhile
    const fp = parseFingerprint(parked.fingerprint_json);
    await events.record(row, 'placing', 'a request came for a parked sandbox: finding or renting a host');
    const host = await pickHost(fp, row, op);
    let dst: HostEndpoint;
    try {
      dst = await hosts.endpoint(host);
      const verdict = checkCompatibility(fp, dst.fingerprint, { gpu: gpuNeedsOf(fp.gpu, JSON.parse(row.gpu_uuids_json) as string[], 0) });
      if (!verdict.compatible) throw new BothubError('INVALID_STATE', `host "${host}" cannot restore sandbox "${row.name}": ${verdict.reasons.join('; ')}`);
      // Moving there from now on: the host is not idle (its record says so).
      await sandboxes.setStatus(row.id, 'moving', `being restored on host "${host}"`, { host });
    } finally {
      this.arriving.delete(host);
    }
    const moveId = randomBytes(6).toString('hex');
    const targetDir = join(incomingDir(dst.dataDir), moveId);
    try {
      op.onProgress?.({ step: 'transfer', message: `state to host "${host}"` });
      await copyTree(new LocalHost(), this.dirOf(row.id), dst.exec, targetDir, op);
      op.onProgress?.({ step: 'thaw', message: `restoring "${row.name}" on host "${host}"` });
      const execs = JSON.parse(parked.execs_json) as ExecRecordT[];
      const there = await dst.agent!.call('importSandbox', { body: { ...travellingSpec(row), dir: moveId, execs } });
      await db.deleteFrom('parked_sandboxes').where('sandbox_id', '=', row.id).execute();
      const placed = await sandboxes.follow(row.id, there, true);
      await rm(this.dirOf(row.id), { recursive: true, force: true });
      await events.record(row, 'placed', `thawed on host "${host}"`);
      return placed;
    } catch (e) {
      await dst.exec.run('rm', ['-rf', '--', targetDir]).catch(() => undefined);
      await sandboxes.setStatus(row.id, 'running', parkedReason(row.host), { host: row.host, thermal: 'cold' }).catch(() => undefined);
      throw new BothubError((e as BothubError).code ?? 'RUNTIME_FAILED', `placing parked sandbox "${row.name}" on host "${host}" failed: ${(e as Error).message}; its state is still kept here — try again`);
    }
  }

  /** Checkpoints of sandboxes destroyed while parked. */
  async sweep(): Promise<void> {
    const orphans = await this.deps.db
      .selectFrom('parked_sandboxes')
      .leftJoin('sandboxes', 'sandboxes.id', 'parked_sandboxes.sandbox_id')
      .select('parked_sandboxes.sandbox_id as id')
      .where('sandboxes.id', 'is', null)
      .execute();
    for (const o of orphans) {
      await rm(this.dirOf(o.id), { recursive: true, force: true });
      await this.deps.db.deleteFrom('parked_sandboxes').where('sandbox_id', '=', o.id).execute();
    }
  }
}
