import { randomBytes } from 'node:crypto';
import type { ShareT } from '../../api/index.js';
import { BothubError, canSee, systemClock, type Actor, type Clock } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow, ShareRow } from '../db/tables.js';
import type { Sealer } from '../security/master-key.js';
import type { EventLog } from './event-log.js';

const PURPOSE = 'share';
export const SHARE_PARAM = 'bh_share';

/**
 * Share links for private previews: `<id>.<expiry>.<mac>`, signed with a key
 * derived from the master key, expiring, and revocable (the id must still be
 * in the table, not revoked).
 */
export class ShareService {
  constructor(
    private readonly db: Db,
    private readonly sealer: Sealer,
    private readonly events: EventLog,
    private readonly clock: Clock = systemClock,
  ) {}

  private payload = (id: string, sandboxId: string, port: number, exp: number) => `${id}.${sandboxId}.${port}.${exp}`;

  async create(row: SandboxRow, port: number, ttlSeconds: number): Promise<{ share: ShareRow; token: string }> {
    const published = await this.db.selectFrom('publications').select('port').where('sandbox_id', '=', row.id).where('port', '=', port).executeTakeFirst();
    if (!published) throw new BothubError('INVALID_STATE', `port ${port} of "${row.name}" is not published; publish it first (\`POST /api/v1/sandboxes/${row.name}/publish {"port": ${port}}\`)`);
    const exp = Math.floor(this.clock.now() / 1000) + ttlSeconds;
    const share: ShareRow = {
      id: randomBytes(6).toString('hex'),
      sandbox_id: row.id,
      port,
      owner_id: row.owner_id,
      expires_at: new Date(exp * 1000).toISOString(),
      revoked: 0,
      created_at: new Date(this.clock.now()).toISOString(),
    };
    await this.db.insertInto('shares').values(share).execute();
    await this.events.record(row, 'shared', `port ${port} until ${share.expires_at} (share ${share.id})`);
    return { share, token: `${share.id}.${exp}.${this.sealer.sign(PURPOSE, this.payload(share.id, row.id, port, exp))}` };
  }

  /** Seconds until the token expires (the Max-Age of the cookie it leaves), 0 once it has. */
  secondsLeft(token: string): number {
    return Math.max(0, Number(token.split('.')[1]) - Math.floor(this.clock.now() / 1000));
  }

  /** Is this token a live share of this sandbox's port? */
  async valid(token: string, row: SandboxRow, port: number): Promise<boolean> {
    const [id, expText, mac] = token.split('.');
    const exp = Number(expText);
    if (!id || !mac || !Number.isInteger(exp) || exp * 1000 < this.clock.now()) return false;
    if (!this.sealer.verify(PURPOSE, this.payload(id, row.id, port, exp), mac)) return false;
    const share = await this.db.selectFrom('shares').select(['revoked']).where('id', '=', id).executeTakeFirst();
    return !!share && share.revoked === 0;
  }

  async list(row: SandboxRow): Promise<ShareT[]> {
    const rows = await this.db.selectFrom('shares').selectAll().where('sandbox_id', '=', row.id).orderBy('created_at').execute();
    return rows.map((s) => ({ id: s.id, port: s.port, expiresAt: s.expires_at, revoked: s.revoked === 1 }));
  }

  async revoke(id: string, actor: Actor): Promise<void> {
    const share = await this.db.selectFrom('shares').selectAll().where('id', '=', id).executeTakeFirst();
    if (!share || !canSee(actor, share.owner_id)) throw new BothubError('NOT_FOUND', `no share with id "${id}"; see \`GET /api/v1/sandboxes/NAME/shares\``);
    await this.db.updateTable('shares').set({ revoked: 1 }).where('id', '=', id).execute();
  }
}
