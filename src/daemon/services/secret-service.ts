import type { SecretT } from '../../api/index.js';
import { BothubError, notFound, type Actor } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { Sealer } from '../security/master-key.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** A user's secrets: sealed at rest, opened only to hand them to a sandbox's processes. */
export class SecretService {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  private context = (ownerId: string, name: string) => `secret:${ownerId}:${name}`;

  static validateName(name: string): string {
    if (!ENV_NAME.test(name))
      throw new BothubError('INVALID_INPUT', `invalid secret name "${name}": use an environment variable name (letters, digits, _; not starting with a digit)`);
    return name;
  }

  async list(actor: Actor): Promise<SecretT[]> {
    const rows = await this.db.selectFrom('secrets').select(['name', 'created_at', 'updated_at']).where('owner_id', '=', actor.id).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  async set(actor: Actor, name: string, value: string): Promise<SecretT> {
    SecretService.validateName(name);
    const now = new Date().toISOString();
    const ciphertext = this.sealer.seal(value, this.context(actor.id, name));
    await this.db
      .insertInto('secrets')
      .values({ owner_id: actor.id, name, ciphertext, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['owner_id', 'name']).doUpdateSet({ ciphertext, updated_at: now }))
      .execute();
    const row = await this.db.selectFrom('secrets').select(['created_at']).where('owner_id', '=', actor.id).where('name', '=', name).executeTakeFirstOrThrow();
    return { name, createdAt: row.created_at, updatedAt: now };
  }

  async remove(actor: Actor, name: string): Promise<void> {
    const r = await this.db.deleteFrom('secrets').where('owner_id', '=', actor.id).where('name', '=', name).executeTakeFirst();
    if (!r.numDeletedRows) throw notFound('secret', name, 'see `GET /api/v1/secrets`');
  }

  /** Checks that the owner has every named secret, before a sandbox is made with them. */
  async requireAll(ownerId: string, names: readonly string[]): Promise<void> {
    for (const name of names) {
      const row = await this.db.selectFrom('secrets').select('name').where('owner_id', '=', ownerId).where('name', '=', name).executeTakeFirst();
      if (!row) throw notFound('secret', name, `set it first (\`PUT /api/v1/secrets/${name}\`)`);
    }
  }

  /** The values, as environment variables for a sandbox's processes. */
  async env(ownerId: string | null, names: readonly string[]): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    if (!ownerId) return env;
    for (const name of names) {
      const row = await this.db.selectFrom('secrets').selectAll().where('owner_id', '=', ownerId).where('name', '=', name).executeTakeFirst();
      if (row) env[name] = this.sealer.open(row.ciphertext, this.context(ownerId, name));
    }
    return env;
  }
}
