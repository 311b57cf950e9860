import type { RegistryCredentialT } from '../../api/index.js';
import { notFound, type Actor } from '../../core/index.js';
import type { RegistryCredentials } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { Sealer } from '../security/master-key.js';

/** Docker Hub is reached as registry-1.docker.io but references (and logins) name it docker.io. */
export function canonicalRegistryHost(host: string): string {
  const h = host.toLowerCase();
  return h === 'index.docker.io' || h === 'registry-1.docker.io' || h === 'registry.hub.docker.com' ? 'docker.io' : h;
}

/** Each user's registry logins: the password sealed at rest, opened only to hand to skopeo in a private auth file. */
export class RegistryCredentialService {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
  ) {}

  private context = (ownerId: string, host: string) => `registry:${ownerId}:${host}`;

  async list(actor: Actor): Promise<RegistryCredentialT[]> {
    const rows = await this.db.selectFrom('registry_credentials').select(['host', 'username', 'created_at']).where('owner_id', '=', actor.id).orderBy('host').execute();
    return rows.map((r) => ({ host: r.host, username: r.username, createdAt: r.created_at }));
  }

  async login(actor: Actor, rawHost: string, username: string, password: string): Promise<RegistryCredentialT> {
    const host = canonicalRegistryHost(rawHost);
    const now = new Date().toISOString();
    const password_sealed = this.sealer.seal(password, this.context(actor.id, host));
    await this.db
      .insertInto('registry_credentials')
      .values({ owner_id: actor.id, host, username, password_sealed, created_at: now })
      .onConflict((oc) => oc.columns(['owner_id', 'host']).doUpdateSet({ username, password_sealed, created_at: now }))
      .execute();
    return { host, username, createdAt: now };
  }

  async logout(actor: Actor, rawHost: string): Promise<void> {
    const host = canonicalRegistryHost(rawHost);
    const r = await this.db.deleteFrom('registry_credentials').where('owner_id', '=', actor.id).where('host', '=', host).executeTakeFirst();
    if (!r.numDeletedRows) throw notFound('registry login', host, 'see `GET /api/v1/registries`');
  }

  /** The caller's credentials for a host, if they logged in to it. */
  async for(actor: Actor, rawHost: string): Promise<RegistryCredentials | undefined> {
    const host = canonicalRegistryHost(rawHost);
    const row = await this.db.selectFrom('registry_credentials').selectAll().where('owner_id', '=', actor.id).where('host', '=', host).executeTakeFirst();
    if (!row) return undefined;
    return { username: row.username, password: this.sealer.open(row.password_sealed, this.context(actor.id, host)) };
  }
}
