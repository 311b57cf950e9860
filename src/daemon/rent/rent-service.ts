import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { OffersReplyT, RentalT, RentHostT } from '../../api/index.js';
import { BothubError, SYSTEM, validateName, type Actor, type ErrorCode } from '../../core/index.js';
import type { LongOperation } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { RentalRow } from '../db/tables.js';
import { LABEL_PREFIX, PROVIDER_NAMES, type Offer, type Provider, type ProviderName } from '../providers/index.js';
import type { Sealer } from '../security/master-key.js';
import type { HostService } from '../fleet/host-service.js';
import type { ProviderKeys } from './provider-keys.js';
import { LIVE, type SpendMeter } from './spend.js';
import { generateRentalKey } from './rental-key.js';
import { waitForSsh } from './wait-ssh.js';

/** A rent request that names neither an offer nor a GPU model (checked here and by the handler, before any progress). */
export const NAME_AN_OFFER = 'name an offer (PROVIDER:ID from `GET /api/v1/offers`) or a GPU model (gpu)';

export interface RentDeps {
  db: Db;
  sealer: Sealer;
  hosts: HostService;
  keys: ProviderKeys;
  meter: SpendMeter;
  log: Logger;
}

/** What a rent asks for; `ownerId` is whose price limit it counts against. */
export type RentRequest = RentHostT & { ownerId?: string | null };

const DEFAULT_READY_TIMEOUT_S = 600;
const DEFAULT_IDLE_RELEASE_S = 1800;
const keyContext = (id: string) => `rental:${id}`;
export const refOf = (o: Offer) => `${o.provider}:${o.id}`;

function parseRef(ref: string): { provider: ProviderName; id: string } {
  const i = ref.indexOf(':');
  const provider = ref.slice(0, i) as ProviderName;
  if (i < 1 || !PROVIDER_NAMES.includes(provider))
    throw new BothubError('INVALID_INPUT', `invalid offer "${ref}": give PROVIDER:ID as \`GET /api/v1/offers\` lists it (providers: ${PROVIDER_NAMES.join(', ')})`);
  return { provider, id: ref.slice(i + 1) };
}

/**
 * Renting machines and adding them as hosts. A rental is on record before
 * the provider is asked (its label, bothub-<id>, is written on the instance),
 * so no instance bothub paid for is ever unaccounted for: one whose rent
 * failed half-way is found by reconciling and destroyed.
 */
export class RentService {
  /** Rentals being made by this process now: reconciling leaves them alone. */
  readonly inFlight = new Set<string>();

  constructor(private readonly deps: RentDeps) {}

  async offers(q: { provider?: ProviderName; gpu?: string; count?: number; maxPrice?: number }, signal?: AbortSignal): Promise<OffersReplyT> {
    const providers = q.provider ? [await this.deps.keys.client(q.provider)] : await this.deps.keys.all();
    if (!providers.length) throw new BothubError('NOT_FOUND', `no GPU provider has a key yet; add one (\`PUT /api/v1/providers/PROVIDER\`, PROVIDER one of ${PROVIDER_NAMES.join(', ')})`);
    const reply: OffersReplyT = { offers: [], errors: [] };
    await Promise.all(
      providers.map(async (p) => {
        try {
          const found = await p.listOffers({ gpu: q.gpu, count: q.count, maxUsdPerHour: q.maxPrice }, signal);
          reply.offers.push(...found.map((o) => ({ ref: refOf(o), ...o })));
        } catch (e) {
          reply.errors.push({ provider: p.name, code: (e as BothubError).code ?? 'PROVIDER_FAILED', message: (e as Error).message });
        }
      }),
    );
    reply.offers.sort((a, b) => a.usdPerHour - b.usdPerHour);
    return reply;
  }

  /** The offer a request names, or the cheapest that fits it. */
  private async choose(req: RentRequest, signal?: AbortSignal): Promise<{ provider: Provider; offer: Offer }> {
    if (req.offer) {
      const { provider, id } = parseRef(req.offer);
      const client = await this.deps.keys.client(provider);
      // The offer as listed now: its price and whether it can checkpoint are what the rent is judged on.
      const offer = (await client.listOffers({ gpu: req.gpu, count: req.count }, signal)).find((o) => o.id === id);
      if (!offer) throw new BothubError('OFFER_GONE', `${provider}: offer ${id} is no longer listed; pick another from \`GET /api/v1/offers\``);
      if (req.maxPrice !== undefined && offer.usdPerHour > req.maxPrice)
        throw new BothubError('PRICE_CHANGED', `${provider}: offer ${id} costs $${offer.usdPerHour}/h now, over maxPrice ${req.maxPrice}; see \`GET /api/v1/offers\``);
      return { provider: client, offer };
    }
    if (!req.gpu) throw new BothubError('INVALID_INPUT', NAME_AN_OFFER);
    const { offers, errors } = await this.offers({ provider: req.provider, gpu: req.gpu, count: req.count, maxPrice: req.maxPrice }, signal);
    const fit = offers.filter((o) => o.canCheckpoint || req.noCheckpoint);
    if (!fit.length) {
      const why = offers.length ? `${offers.length} offer(s) fit but none can checkpoint (set \`noCheckpoint\` to take one anyway)` : 'none fits';
      throw new BothubError('NO_CAPACITY', `no offer of ${req.gpu}${req.count ? ` ×${req.count}` : ''}${req.maxPrice ? ` under $${req.maxPrice}/h` : ''}: ${why}${errors.length ? `; ${errors.map((e) => e.message).join('; ')}` : ''}`);
    }
    const offer = fit[0]!;
    return { provider: await this.deps.keys.client(offer.provider), offer };
  }

  /**
   * Refuses what would take the user past their hourly price limit: a rent
   * at `usdPerHour`, or (with `onHost`) a sandbox on a rented host they do
   * not pay for yet.
   */
  async checkPriceLimit(ownerId: string | null | undefined, usdPerHour: number, onHost?: string): Promise<void> {
    if (!ownerId) return;
    const user = await this.deps.db
      .selectFrom('user_price_limits')
      .innerJoin('users', 'users.id', 'user_price_limits.user_id')
      .select(['users.name', 'user_price_limits.max_usd_per_hour'])
      .where('user_id', '=', ownerId)
      .executeTakeFirst();
    if (!user) return;
    if (onHost && (await this.deps.meter.counts(ownerId, onHost))) return; // already counted
    const now = await this.deps.meter.hourlyOf(ownerId);
    if (now + usdPerHour > user.max_usd_per_hour + 1e-9)
      throw new BothubError(
        'PRICE_CHANGED',
        `${onHost ? `a sandbox on rented host "${onHost}" ($${usdPerHour}/h)` : `renting at $${usdPerHour}/h`} would take user "${user.name}" to $${(now + usdPerHour).toFixed(3)}/h, over their limit of $${user.max_usd_per_hour}/h; release a host (\`POST /api/v1/rentals/HOST/release\`) or raise the limit (\`PUT /api/v1/users/${user.name}/price-limit\`)`,
      );
  }

  /** Before a user's sandbox goes onto a host: a rented one's price must fit their limit. */
  async admit(host: string, ownerId: string | null): Promise<void> {
    const r = await this.ofHost(host);
    if (r) await this.checkPriceLimit(ownerId, r.usd_per_hour, host);
  }

  async rent(req: RentRequest, op: LongOperation = {}): Promise<RentalT> {
    const progress = op.onProgress ?? (() => undefined);
    if (req.name) validateName('host', req.name);
    const { provider, offer } = await this.choose(req, op.signal);
    if (!offer.canCheckpoint && !req.noCheckpoint)
      throw new BothubError(
        'INVALID_STATE',
        `${refOf(offer)} cannot checkpoint (${offer.provider === 'vast' ? 'a Vast container without privileges' : `${offer.provider} rents unprivileged containers`}: CRIU needs root with CAP_SYS_ADMIN); rent a virtual machine, or set \`noCheckpoint\` (its sandboxes then cannot freeze, go cold or move)`,
      );
    await this.checkPriceLimit(req.ownerId, offer.usdPerHour);
    const id = randomBytes(5).toString('hex');
    const host = req.name ?? `rent-${id}`;
    if ((await this.deps.hosts.list()).some((h) => h.name === host))
      throw new BothubError('NAME_TAKEN', `a host named "${host}" already exists; pick another \`name\``);
    const keys = generateRentalKey(`bothub-${id}`);
    const now = new Date().toISOString();
    const row: RentalRow = {
      id,
      provider: offer.provider,
      offer_id: offer.id,
      instance_id: null,
      label: `${LABEL_PREFIX}${id}`,
      host,
      status: 'renting',
      usd_per_hour: offer.usdPerHour,
      gpu_model: offer.gpuModel,
      gpu_count: offer.gpuCount,
      can_checkpoint: offer.canCheckpoint ? 1 : 0,
      idle_release_ms: (req.idleReleaseSec ?? DEFAULT_IDLE_RELEASE_S) * 1000,
      owner_id: req.ownerId ?? null,
      data_dir: req.dataDir ?? null,
      key_sealed: this.deps.sealer.seal(keys.private, keyContext(id)),
      created_at: now,
      ready_at: null,
      ended_at: null,
      metered_at: now,
      failure: null,
    };
    this.inFlight.add(id);
    try {
      // On record before the provider hears of it: a crash from here on leaves a labelled instance reconciling finds.
      await this.deps.db.insertInto('rentals').values(row).execute();
      progress({ step: 'rent', message: `${refOf(offer)}: ${offer.gpuCount}× ${offer.gpuModel} at $${offer.usdPerHour}/h` });
      let instanceId: string;
      try {
        instanceId = (await provider.rent({ offer, label: row.label, publicKey: keys.public }, op.signal)).instanceId;
      } catch (e) {
        await this.end(id, 'failed', (e as Error).message);
        throw e;
      }
      await this.update(id, { instance_id: instanceId, status: 'starting' });
      this.deps.log.info({ rental: id, provider: offer.provider, instanceId, usdPerHour: offer.usdPerHour }, 'instance rented');
      try {
        const ssh = await waitForSsh(provider, instanceId, (req.readyTimeoutSec ?? DEFAULT_READY_TIMEOUT_S) * 1000, progress, op.signal);
        progress({ step: 'agent', message: `${ssh.username}@${ssh.address}:${ssh.port}: installing the agent, checking the machine` });
        const address = ssh.address.includes(':') ? `[${ssh.address}]` : ssh.address;
        await this.deps.hosts.add(
          { name: host, ssh: `${ssh.username}@${address}:${ssh.port}`, privateKey: keys.private, ...(req.dataDir ? { dataDir: req.dataDir.replaceAll('{label}', row.label) } : {}) },
          { checkpoint: offer.canCheckpoint, signal: op.signal },
        );
      } catch (e) {
        // Never a bill for a machine bothub cannot use.
        await provider.destroy(instanceId).catch((err: Error) => this.deps.log.error({ err, rental: id, instanceId }, 'destroying an unusable instance failed; reconciling retries'));
        await this.end(id, 'failed', (e as Error).message);
        throw e;
      }
      await this.update(id, { status: 'active', ready_at: new Date().toISOString() });
      return this.present(await this.row(id));
    } finally {
      this.inFlight.delete(id);
    }
  }

  async row(id: string): Promise<RentalRow> {
    return this.deps.db.selectFrom('rentals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  /** The live rental behind a host, if it is a rented one. */
  async ofHost(host: string): Promise<RentalRow | undefined> {
    return this.deps.db.selectFrom('rentals').selectAll().where('host', '=', host).where('status', 'in', LIVE).executeTakeFirst();
  }

  async update(id: string, set: Partial<RentalRow>): Promise<void> {
    await this.deps.db.updateTable('rentals').set(set).where('id', '=', id).execute();
  }

  async end(id: string, status: 'released' | 'failed' | 'lost', failure: string | null = null): Promise<void> {
    await this.update(id, { status, ended_at: new Date().toISOString(), failure });
    await this.deps.meter.meter();
  }

  async present(r: RentalRow): Promise<RentalT> {
    return {
      id: r.id,
      provider: r.provider as ProviderName,
      offerId: r.offer_id,
      instanceId: r.instance_id,
      host: r.host,
      status: r.status,
      usdPerHour: r.usd_per_hour,
      gpuModel: r.gpu_model,
      gpuCount: r.gpu_count,
      canCheckpoint: r.can_checkpoint === 1,
      idleReleaseSec: Math.round(r.idle_release_ms / 1000),
      createdAt: r.created_at,
      readyAt: r.ready_at,
      endedAt: r.ended_at,
      spentUsd: Math.round((await this.deps.meter.spentBy(r.id)) * 10_000) / 10_000,
      failure: r.failure,
    };
  }

  async list(): Promise<RentalT[]> {
    await this.deps.meter.meter();
    const rows = await this.deps.db.selectFrom('rentals').selectAll().orderBy('created_at').execute();
    return Promise.all(rows.map((r) => this.present(r)));
  }

  async setPriceLimit(user: string, maxUsdPerHour: number | null): Promise<void> {
    const u = await this.deps.db.selectFrom('users').select('id').where('name', '=', user).executeTakeFirst();
    if (!u) throw new BothubError('NOT_FOUND', `no user named "${user}"; see \`GET /api/v1/users\``);
    if (maxUsdPerHour === null) await this.deps.db.deleteFrom('user_price_limits').where('user_id', '=', u.id).execute();
    else
      await this.deps.db
        .insertInto('user_price_limits')
        .values({ user_id: u.id, max_usd_per_hour: maxUsdPerHour })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ max_usd_per_hour: maxUsdPerHour }))
        .execute();
  }

  /** Why freezing, cooling or moving a sandbox of this host is refused; undefined when it is not. */
  async noCheckpointReason(host: string): Promise<string | undefined> {
    const r = await this.ofHost(host);
    if (!r || r.can_checkpoint) return undefined;
    return `host "${host}" was rented with \`noCheckpoint\` (${r.provider} offer ${r.offer_id} cannot checkpoint: no root with CAP_SYS_ADMIN there)`;
  }

  /** The owner whose price limit a rent for this actor counts against. */
  static ownerOf(actor: Actor): string | null {
    return actor === SYSTEM ? null : actor.id;
  }

  static codeOf(e: unknown): ErrorCode {
    return (e as BothubError).code ?? 'INTERNAL';
  }
}
