import type { Logger } from 'pino';
import type { ReconcileReportT, RentalT } from '../../api/index.js';
import { BothubError } from '../../core/index.js';
import type { LongOperation, Progress } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import { LABEL_PREFIX } from '../providers/index.js';
import type { SandboxService } from '../services/sandbox-service.js';
import type { Parking } from './parking.js';
import type { ProviderKeys } from './provider-keys.js';
import type { Releaser } from './release.js';
import { RentService, type RentRequest } from './rent-service.js';
import type { SpendMeter } from './spend.js';

export interface RentalsDeps {
  db: Db;
  keys: ProviderKeys;
  rent: RentService;
  releaser: Releaser;
  parking: Parking;
  meter: SpendMeter;
  sandboxes: SandboxService;
  /** How often spend is metered and idle rented hosts are released; 0 disables. */
  tickMs: number;
  /** How long a request that cannot show progress waits for a placing before it is answered BUSY (the placing goes on). */
  placeWaitMs: number;
  /** Reconciling with the providers every this many ticks (and at start). */
  reconcileEveryTicks: number;
  log: Logger;
}

/** Routes that need a checkpoint of the sandbox: refused on a host rented with --no-checkpoint. */
const CHECKPOINTING = new Set(['freezeSandbox', 'moveSandbox']);

/**
 * Rented hosts over time: the meter, the idle release that stops it, placing
 * parked sandboxes again on request, and reconciling with each provider so
 * that no instance of bothub's is billed without a rental owning it.
 */
export class Rentals {
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private ticking: Promise<void> | undefined;
  private readonly activity = new Map<string, number>();
  private readonly releasing = new Set<string>();

  constructor(private readonly deps: RentalsDeps) {}

  start(): void {
    if (this.deps.tickMs <= 0) return;
    // At start: whatever a crash left billing is found now, not in a few minutes.
    void this.reconcile().catch((err) => this.deps.log.warn({ err }, 'reconciling rentals failed'));
    this.timer = setInterval(() => void this.tick(), this.deps.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking?.catch(() => undefined);
    await this.deps.meter.meter().catch(() => undefined);
    await this.deps.parking.sweep().catch(() => undefined);
  }

  rent(req: RentRequest, op: LongOperation): Promise<RentalT> {
    return this.deps.rent.rent(req, op);
  }

  async release(host: string, reason: string, op: LongOperation = {}): Promise<RentalT> {
    if (this.releasing.has(host)) throw new BothubError('INVALID_STATE', `host "${host}" is being released already`);
    this.releasing.add(host);
    try {
      return await this.deps.releaser.release(host, reason, op);
    } finally {
      this.releasing.delete(host);
    }
  }

  isParked(id: string): Promise<boolean> {
    return this.deps.parking.isParked(id);
  }

  /** Activity on a sandbox of a fleet host: its host's idle clock starts again. */
  touch(host: string): void {
    this.activity.set(host, Date.now());
  }

  /**
   * Before a request on a sandbox of another host is passed on: a parked
   * sandbox is placed and thawed first (a slow first answer, never a lost
   * sandbox); a checkpoint on a host that cannot take one is refused.
   */
  async beforeForward(row: SandboxRow, route: string, answeredHere: boolean, onProgress?: (p: Progress) => void): Promise<SandboxRow> {
    if (CHECKPOINTING.has(route)) {
      const why = await this.deps.rent.noCheckpointReason(row.host);
      if (why) throw new BothubError('INVALID_STATE', `sandbox "${row.name}" cannot be checkpointed: ${why}`);
    }
    // Reading the record (a dashboard or a script polling `getSandbox`) is no activity there: it must not keep a host billing.
    if (answeredHere) return row;
    if (await this.deps.parking.isParked(row.id)) row = onProgress ? await this.place(row, onProgress) : await this.placeWithin(row);
    this.touch(row.host);
    return row;
  }

  /**
   * A placing for a caller that can show no progress (a plain HTTP request):
   * it waits so long, then is answered BUSY with what the placing is doing,
   * rather than silently past its HTTP client's patience. The placing goes
   * on; the next request finds it placed, or joins it.
   */
  private async placeWithin(row: SandboxRow): Promise<SandboxRow> {
    let last: Progress | undefined;
    const placing = this.place(row, (p) => (last = p));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.deps.placeWaitMs);
    });
    try {
      const placed = await Promise.race([placing, waited]);
      if (placed) return placed;
    } finally {
      clearTimeout(timer);
    }
    placing.catch(() => undefined); // its failure is the next request's answer (the state stays parked)
    const now = last ? ` (now: ${last.step}${last.message ? ` ${last.message}` : ''})` : '';
    throw new BothubError(
      'BUSY',
      `sandbox "${row.name}" is being placed on a host again, its rented host having been released${now}; that takes longer than a request waits (${Math.round(this.deps.placeWaitMs / 1000)} s) and goes on without it: retry in a minute, or follow it with \`POST /api/v1/sandboxes/${row.name}/place\` (NDJSON progress)`,
    );
  }

  /**
   * Places a parked sandbox on a host and thaws it there; every caller
   * waiting on one placing sees its progress. A sandbox not parked is
   * answered as it is.
   */
  place(row: SandboxRow, onProgress?: (p: Progress) => void): Promise<SandboxRow> {
    return this.deps.parking.unpark(row, (fp, r, o) => this.deps.releaser.hostFor(fp, r, o), onProgress);
  }

  tick(): Promise<void> {
    return (this.ticking ??= this.tickOnce().finally(() => (this.ticking = undefined)));
  }

  private async tickOnce(): Promise<void> {
    const { log, meter, releaser, parking } = this.deps;
    await meter.meter().catch((err) => log.warn({ err }, 'metering rentals failed'));
    await parking.sweep().catch((err) => log.warn({ err }, 'sweeping parked checkpoints failed'));
    for (const host of await releaser.idleHosts((h) => this.activity.get(h)).catch(() => [] as string[])) {
      if (this.releasing.has(host)) continue;
      await this.release(host, 'idle').catch((err) => log.warn({ err, host }, 'releasing an idle rented host failed; it is kept and tried again'));
    }
    if (++this.ticks % this.deps.reconcileEveryTicks === 0) await this.reconcile().catch((err) => log.warn({ err }, 'reconciling rentals failed'));
  }

  /**
   * Each provider's instances against the rentals on record: an instance
   * labelled as bothub's that no live rental owns is destroyed (a rent cut
   * short by a crash, a release whose destroy failed); a live rental whose
   * instance the provider no longer has is ended.
   */
  async reconcile(signal?: AbortSignal): Promise<ReconcileReportT> {
    const { keys, rent, releaser, log, db } = this.deps;
    const report: ReconcileReportT = { destroyed: [], ended: [], errors: [] };
    const live = await releaser.live();
    for (const provider of await keys.all()) {
      let instances;
      try {
        instances = await provider.listInstances(signal);
      } catch (e) {
        report.errors.push((e as Error).message);
        continue;
      }
      const seen = new Set<string>();
      for (const inst of instances) {
        if (!inst.label?.startsWith(LABEL_PREFIX) || inst.status === 'gone') continue;
        const rental = live.get(inst.label) ?? (await releaser.live()).get(inst.label);
        // A rent in flight here may have made it after the records were read: it is that rent's to finish or destroy.
        if (rent.inFlight.has(inst.label.slice(LABEL_PREFIX.length)) || (rental && (rental.status === 'active' || rental.status === 'releasing'))) {
          seen.add(inst.label);
          continue;
        }
        try {
          await provider.destroy(inst.id, signal);
          report.destroyed.push({ provider: provider.name, instanceId: inst.id, label: inst.label });
          log.warn({ provider: provider.name, instanceId: inst.id, label: inst.label }, 'destroyed an instance of bothub that no rental owns');
          if (rental) await rent.end(rental.id, 'failed', 'the rent was cut short (daemon restart); its instance was destroyed');
        } catch (e) {
          report.errors.push((e as Error).message);
        }
      }
      // A rent a crash cut short before the provider made anything: nothing bills, the record says so.
      for (const r of await db.selectFrom('rentals').select(['id', 'label']).where('provider', '=', provider.name).where('status', 'in', ['renting', 'starting']).execute())
        if (!rent.inFlight.has(r.id) && !report.destroyed.some((d) => d.label === r.label)) await rent.end(r.id, 'failed', 'the rent was cut short (daemon restart); the provider has no instance of it');
      const ours = await db.selectFrom('rentals').select(['id', 'label', 'host', 'created_at']).where('provider', '=', provider.name).where('status', 'in', ['active', 'releasing']).execute();
      for (const r of ours) {
        if (seen.has(r.label)) continue;
        report.ended.push(r.host);
        log.warn({ rental: r.id, host: r.host }, 'the provider no longer has this rented instance');
        await rent.end(r.id, 'lost', `${provider.name} no longer lists the instance`);
      }
    }
    return report;
  }
}
