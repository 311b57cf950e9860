import type { ProviderInfoT } from '../../api/index.js';
import { BothubError, notFound } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { HYPERBOLIC_URL } from '../providers/hyperbolic.js';
import { makeProvider, PROVIDER_NAMES, type Provider, type ProviderName } from '../providers/index.js';
import { RUNPOD_URL } from '../providers/runpod.js';
import { VAST_URL } from '../providers/vast.js';
import type { Sealer } from '../security/master-key.js';

const DEFAULT_URLS: Record<ProviderName, string> = { vast: VAST_URL, runpod: RUNPOD_URL, hyperbolic: HYPERBOLIC_URL };
const context = (name: string) => `provider:${name}`;

/** Providers' API keys, sealed at rest like secrets, opened only to call that provider. */
export class ProviderKeys {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  async list(): Promise<ProviderInfoT[]> {
    const rows = await this.db.selectFrom('providers').select(['name', 'base_url', 'created_at']).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name as ProviderName, baseUrl: r.base_url ?? DEFAULT_URLS[r.name as ProviderName], createdAt: r.created_at }));
  }

  /** The key is tried (one listing of its instances) before it is stored: a wrong one is refused now, not at the first rent. */
  async add(name: ProviderName, key: string, baseUrl?: string): Promise<ProviderInfoT> {
    await makeProvider(name, key, baseUrl).listInstances();
    const now = new Date().toISOString();
    const key_sealed = this.sealer.seal(key, context(name));
    await this.db
      .insertInto('providers')
      .values({ name, key_sealed, base_url: baseUrl ?? null, created_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ key_sealed, base_url: baseUrl ?? null, created_at: now }))
      .execute();
    return { name, baseUrl: baseUrl ?? DEFAULT_URLS[name], createdAt: now };
  }

  async remove(name: ProviderName): Promise<void> {
    const live = await this.db.selectFrom('rentals').select('host').where('provider', '=', name).where('status', 'in', ['renting', 'starting', 'active', 'releasing']).execute();
    if (live.length)
      throw new BothubError('IN_USE', `hosts rented from ${name} still run (${live.map((r) => r.host).join(', ')}); release them first (\`POST /api/v1/rentals/NAME/release\`)`);
    const r = await this.db.deleteFrom('providers').where('name', '=', name).executeTakeFirst();
    if (!r.numDeletedRows) throw notFound('provider', name, 'see `GET /api/v1/providers`');
  }

  async client(name: ProviderName): Promise<Provider> {
    const row = await this.db.selectFrom('providers').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw new BothubError('NOT_FOUND', `no key stored for ${name}; add one (\`PUT /api/v1/providers/${name}\`)`);
    return makeProvider(name, this.sealer.open(row.key_sealed, context(name)), row.base_url ?? undefined);
  }

  /** Every provider with a key. */
  async all(): Promise<Provider[]> {
    const rows = await this.db.selectFrom('providers').select('name').execute();
    return Promise.all(rows.filter((r) => (PROVIDER_NAMES as readonly string[]).includes(r.name)).map((r) => this.client(r.name as ProviderName)));
  }
}
