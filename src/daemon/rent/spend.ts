import type { CostReportT, ProviderNameT } from '../../api/index.js';
import type { Db } from '../db/database.js';
import type { RentalRow } from '../db/tables.js';

/** Rentals that bill now. */
export const LIVE: string[] = ['starting', 'active', 'releasing'];

const hourOf = (ms: number) => new Date(Math.floor(ms / 3_600_000) * 3_600_000).toISOString();

/**
 * The meter: each rental's price times the time since it was last metered,
 * split evenly among the sandboxes on its host then (a host without any
 * bills to no sandbox), added to per-hour buckets. Ended rentals are metered
 * up to their end once.
 */
export class SpendMeter {
  constructor(private readonly db: Db) {}

  async meter(now = Date.now()): Promise<void> {
    const rentals = await this.db
      .selectFrom('rentals')
      .selectAll()
      .where((eb) => eb.or([eb('status', 'in', LIVE), eb('ended_at', '>', eb.ref('metered_at'))]))
      .execute();
    for (const r of rentals) await this.meterOne(r, now);
  }

  private async meterOne(r: RentalRow, now: number): Promise<void> {
    const from = Date.parse(r.metered_at);
    const to = r.ended_at ? Math.min(now, Date.parse(r.ended_at)) : now;
    if (to <= from) return;
    const usd = (r.usd_per_hour * (to - from)) / 3_600_000;
    const on = await this.db.selectFrom('sandboxes').select(['id', 'name', 'owner_id']).where('host', '=', r.host).execute();
    const shares = on.length ? on.map((s) => ({ sandbox_id: s.id, sandbox_name: s.name, owner_id: s.owner_id })) : [{ sandbox_id: '', sandbox_name: '', owner_id: r.owner_id }];
    const hour = hourOf(to);
    await this.db.transaction().execute(async (tx) => {
      for (const s of shares) {
        const part = usd / shares.length;
        await tx
          .insertInto('rental_spend')
          .values({ hour, rental_id: r.id, ...s, usd: part })
          .onConflict((oc) => oc.columns(['hour', 'rental_id', 'sandbox_id']).doUpdateSet((eb) => ({ usd: eb('rental_spend.usd', '+', part) })))
          .execute();
      }
      await tx.updateTable('rentals').set({ metered_at: new Date(to).toISOString() }).where('id', '=', r.id).execute();
    });
  }

  async spentBy(rentalId: string): Promise<number> {
    const r = await this.db.selectFrom('rental_spend').select((eb) => eb.fn.sum<number>('usd').as('usd')).where('rental_id', '=', rentalId).executeTakeFirst();
    return Number(r?.usd ?? 0);
  }

  /** What a user's sandboxes cost per hour now: the full price of every live rented host they have a sandbox on, or rented themselves. */
  async hourlyOf(userId: string): Promise<number> {
    const rows = await this.db
      .selectFrom('rentals')
      .select(['usd_per_hour', 'host', 'owner_id'])
      .where('status', 'in', LIVE)
      .execute();
    let sum = 0;
    for (const r of rows) if (await this.mine(userId, r)) sum += r.usd_per_hour;
    return sum;
  }

  /** Whether the user pays for this live rented host already (they rented it, or have a sandbox on it). */
  async counts(userId: string, host: string): Promise<boolean> {
    const r = await this.db.selectFrom('rentals').select(['host', 'owner_id']).where('host', '=', host).where('status', 'in', LIVE).executeTakeFirst();
    return !!r && (await this.mine(userId, r));
  }

  private async mine(userId: string, r: { host: string; owner_id: string | null }): Promise<boolean> {
    return r.owner_id === userId || !!(await this.db.selectFrom('sandboxes').select('id').where('host', '=', r.host).where('owner_id', '=', userId).executeTakeFirst());
  }

  async report(since: string | undefined): Promise<CostReportT> {
    await this.meter();
    const from = since ? hourOf(Date.parse(since)) : '';
    const spend = await this.db.selectFrom('rental_spend').selectAll().where('hour', '>=', from).execute();
    const rentals = await this.db.selectFrom('rentals').selectAll().where('status', '!=', 'failed').execute();
    const users = await this.db
      .selectFrom('users')
      .leftJoin('user_price_limits', 'user_price_limits.user_id', 'users.id')
      .select(['users.id', 'users.name', 'user_price_limits.max_usd_per_hour'])
      .execute();
    const userName = new Map(users.map((u) => [u.id, u.name]));
    const sum = <K>(key: (s: (typeof spend)[number]) => K) => {
      const m = new Map<K, number>();
      for (const s of spend) m.set(key(s), (m.get(key(s)) ?? 0) + s.usd);
      return m;
    };
    const round = (n: number) => Math.round(n * 10_000) / 10_000;
    const byRental = sum((s) => s.rental_id);
    const bySandbox = sum((s) => `${s.sandbox_name}\0${s.owner_id ?? ''}`);
    const byUser = sum((s) => s.owner_id ?? '');
    return {
      since: since ?? null,
      totalUsd: round(spend.reduce((a, s) => a + s.usd, 0)),
      hosts: rentals
        .filter((r) => byRental.has(r.id) || LIVE.includes(r.status))
        .map((r) => ({ host: r.host, provider: r.provider as ProviderNameT, usdPerHour: r.usd_per_hour, spentUsd: round(byRental.get(r.id) ?? 0), active: LIVE.includes(r.status) })),
      sandboxes: [...bySandbox]
        .filter(([k]) => !k.startsWith('\0'))
        .map(([k, usd]) => {
          const [sandbox, owner] = k.split('\0');
          return { sandbox: sandbox!, owner: owner ? (userName.get(owner) ?? null) : null, spentUsd: round(usd) };
        }),
      users: await Promise.all(
        users
          .filter((u) => byUser.has(u.id) || u.max_usd_per_hour !== null)
          .map(async (u) => ({ user: u.name, spentUsd: round(byUser.get(u.id) ?? 0), usdPerHourNow: await this.hourlyOf(u.id), limitUsdPerHour: u.max_usd_per_hour })),
      ),
    };
  }
}
