import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RentalT } from '../../api/index.js';
import { BothubError, checkCompatibility, gpuNeedsOf, type HostFingerprint } from '../../core/index.js';
import type { LongOperation } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import type { HostService } from '../fleet/host-service.js';
import type { ProviderKeys } from './provider-keys.js';
import type { Parking } from './parking.js';
import type { RentService } from './rent-service.js';
import { LIVE } from './spend.js';
import type { ProviderName } from '../providers/index.js';

export interface ReleaseDeps {
  db: Db;
  hosts: HostService;
  keys: ProviderKeys;
  rent: RentService;
  parking: Parking;
  log: Logger;
}

/**
 * Ending rentals without losing a byte: a rented host's sandboxes are brought
 * home first (checkpointed, copied, checksummed), and only then is the
 * instance destroyed; and placing a parked sandbox again, on a compatible
 * host of the fleet or a newly rented one under its owner's price limit.
 */
export class Releaser {
  constructor(private readonly deps: ReleaseDeps) {}

  async release(host: string, reason: string, op: LongOperation = {}): Promise<RentalT> {
    const { db, hosts, rent, parking, keys, log } = this.deps;
    const rental = await rent.ofHost(host);
    if (!rental) throw new BothubError('NOT_FOUND', `host "${host}" is not a rented host in use; see \`GET /api/v1/rentals\``);
    if (rental.status !== 'active') throw new BothubError('INVALID_STATE', `host "${host}" is ${rental.status}; wait for it to finish`);
    const on = await db.selectFrom('sandboxes').selectAll().where('host', '=', host).execute();
    if (on.length && !rental.can_checkpoint)
      throw new BothubError(
        'IN_USE',
        `host "${host}" cannot checkpoint (rented with \`noCheckpoint\`), so the state of its ${on.length} sandbox(es) (${on.map((s) => s.name).join(', ')}) exists only there; destroy them first, then release it`,
      );
    await rent.update(rental.id, { status: 'releasing' });
    const parked: SandboxRow[] = [];
    try {
      if (on.length) {
        const src = await hosts.endpoint(host);
        if (!src.reachable) throw new BothubError('UNAVAILABLE', `host "${host}" is unreachable; its sandboxes cannot be brought home now, so it is kept`);
        for (const row of on) {
          await parking.park(row, src, rental.id, op);
          parked.push(row);
        }
      }
    } catch (e) {
      // What was brought home stays parked (safe); the host, with what is left on it, stays.
      for (const row of parked) await parking.settle(row.id, host);
      await rent.update(rental.id, { status: 'active' });
      throw e;
    }
    op.onProgress?.({ step: 'destroy', message: `${rental.provider} instance ${rental.instance_id}` });
    await hosts.forget(host);
    for (const row of parked) await parking.settle(row.id, host);
    const provider = await keys.client(rental.provider as ProviderName);
    try {
      if (rental.instance_id) await provider.destroy(rental.instance_id, op.signal);
    } catch (e) {
      // The state is safe at home; the instance is still billed: reconciling destroys it (it has no live rental).
      log.error({ err: e, rental: rental.id }, 'destroying a released instance failed; reconciling will retry');
    }
    await rent.end(rental.id, 'released', reason);
    log.info({ host, rental: rental.id, sandboxes: parked.length, reason }, 'rented host released');
    return rent.present(await rent.row(rental.id));
  }

  /**
   * A host for a parked sandbox: a reachable fleet host (not this machine)
   * that can restore its checkpoint, the least busy first; else a new rent
   * of the same kind as the one it left, under its owner's price limit.
   */
  async hostFor(fp: HostFingerprint, row: SandboxRow, op: LongOperation): Promise<string> {
    const { db, hosts, rent } = this.deps;
    const gpu = gpuNeedsOf(fp.gpu, JSON.parse(row.gpu_uuids_json) as string[], 0);
    const candidates = (await hosts.list()).filter((h) => h.name !== 'local' && h.status === 'reachable' && checkCompatibility(fp, h.fingerprint, { gpu }).compatible);
    for (const h of candidates.sort((a, b) => a.sandboxes - b.sandboxes)) {
      const r = await rent.ofHost(h.name);
      if (r && (!r.can_checkpoint || r.status !== 'active')) continue;
      // A rented host that would take the owner past their price limit is no place for it.
      if (r && (await rent.admit(h.name, row.owner_id).then(() => false, () => true))) continue;
      this.deps.parking.arriving.add(h.name);
      return h.name;
    }
    const parked = await db.selectFrom('parked_sandboxes').select('rental_id').where('sandbox_id', '=', row.id).executeTakeFirstOrThrow();
    const before = await rent.row(parked.rental_id);
    op.onProgress?.({ step: 'rent', message: `no idle host can restore "${row.name}": renting ${before.gpu_count}× ${before.gpu_model} from ${before.provider}` });
    // The cheapest that fits; the owner's price limit is checked on it (PRICE_CHANGED says by how much it is over).
    // Named here so that it is known to be arriving before it exists: empty, it would look idle.
    const name = `rent-${randomBytes(5).toString('hex')}`;
    this.deps.parking.arriving.add(name);
    const rental = await rent.rent(
      {
        name,
        provider: before.provider as ProviderName,
        gpu: before.gpu_model,
        count: before.gpu_count,
        idleReleaseSec: Math.round(before.idle_release_ms / 1000),
        ownerId: row.owner_id,
        ...(before.data_dir ? { dataDir: before.data_dir } : {}),
      },
      op,
    ).catch((e: unknown) => {
      this.deps.parking.arriving.delete(name);
      throw e;
    });
    return rental.host;
  }

  /** Live rentals whose sandboxes are all cold, or idle past the host's setting (none counts as idle since the last one left). */
  async idleHosts(lastActivity: (host: string) => number | undefined): Promise<string[]> {
    const { db } = this.deps;
    const rentals = await db.selectFrom('rentals').selectAll().where('status', '=', 'active').where('can_checkpoint', '=', 1).where('idle_release_ms', '>', 0).execute();
    const idle: string[] = [];
    const now = Date.now();
    for (const r of rentals) {
      if (this.deps.parking.arriving.has(r.host)) continue;
      const on = await db.selectFrom('sandboxes').select(['status', 'thermal', 'created_at', 'last_active_at']).where('host', '=', r.host).execute();
      if (on.some((s) => s.status === 'moving' || s.status === 'creating')) continue;
      if (on.length && on.every((s) => s.thermal === 'cold' || s.status === 'stopped')) {
        idle.push(r.host);
        continue;
      }
      const last = Math.max(Date.parse(r.ready_at ?? r.created_at), lastActivity(r.host) ?? 0, ...on.map((s) => Date.parse(s.last_active_at ?? s.created_at)));
      if (now - last >= r.idle_release_ms) idle.push(r.host);
    }
    return idle;
  }

  /** Rentals still billing, by provider: what reconciling compares with each provider's list. */
  async live(): Promise<Map<string, { id: string; status: string }>> {
    const rows = await this.deps.db.selectFrom('rentals').select(['id', 'label', 'status']).where('status', 'in', ['renting', ...LIVE]).execute();
    return new Map(rows.map((r) => [r.label, r]));
  }
}
