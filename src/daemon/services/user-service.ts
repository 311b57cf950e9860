import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { CreateUserT, SetUserQuotaT, UserT } from '../../api/index.js';
import { BothubError, formatApiKey, hashSecret, notFound, parseApiKey, secretMatches, validateName, type Actor } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/dialect.js';
import type { UserRow } from '../db/tables.js';

const toApi = (u: UserRow): UserT => ({
  name: u.name,
  admin: u.admin === 1,
  createdAt: u.created_at,
  quota: { maxSandboxes: u.max_sandboxes, maxMemoryMb: u.max_memory_mb, maxSnapshotBytes: u.max_snapshot_bytes, maxDiskMb: u.max_disk_mb, maxGpus: u.max_gpus },
});

const newKey = () => ({
  keyId: randomBytes(9)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '0')
    .slice(0, 12),
  secret: randomBytes(24).toString('base64url'),
});

export const toActor = (u: UserRow): Actor => ({ id: u.id, name: u.name, admin: u.admin === 1 });

/**
 * How long a key's record is reused without asking the database (every request
 * authenticates; the lookup was a third of an exec's queries). A key rotated or a
 * user removed through this daemon is refused at once; through another daemon on
 * the same PostgreSQL, within this.
 */
const KEY_RECORD_MS = 1000;
/** Key records kept at most (each a key used in the last second). */
const KEY_RECORDS_MAX = 1000;

/** Users and their API keys. Only key hashes are stored. */
export class UserService {
  /** Recently used keys' records by key id; the secret is still checked against the hash on every request. */
  private readonly keyRecords = new Map<string, { row: UserRow; until: number }>();
  /** Bumped by every change of a key or user: a lookup that ran across one does not keep what it read. */
  private keyGeneration = 0;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /**
   * First start: make the admin and write its key once to admin.key (0600).
   * Later starts leave both alone.
   */
  async ensureAdmin(keyFile: string): Promise<void> {
    const admin = await this.db.selectFrom('users').select('id').where('admin', '=', 1).executeTakeFirst();
    if (admin) return;
    const { keyId, secret } = newKey();
    await this.db
      .insertInto('users')
      .values({
        id: randomBytes(6).toString('hex'),
        name: 'admin',
        admin: 1,
        key_id: keyId,
        key_hash: hashSecret(secret),
        max_sandboxes: null,
        max_memory_mb: null,
        max_snapshot_bytes: null,
        max_disk_mb: null,
        max_gpus: null,
        created_at: new Date().toISOString(),
      })
      .execute();
    await writeFile(keyFile, formatApiKey(keyId, secret) + '\n', { mode: 0o600 });
    this.log.info({ keyFile }, 'created the admin API key');
  }

  /** The user a bearer token belongs to, or undefined. */
  async authenticate(token: string): Promise<Actor | undefined> {
    const parsed = parseApiKey(token);
    if (!parsed) return undefined;
    const row = await this.keyRecord(parsed.keyId);
    // Compare anyway when the id is unknown, so timing does not tell which ids exist.
    const ok = secretMatches(parsed.secret, row?.key_hash ?? '0'.repeat(64));
    return ok && row ? toActor(row) : undefined;
  }

  private async keyRecord(keyId: string): Promise<UserRow | undefined> {
    const now = performance.now();
    const known = this.keyRecords.get(keyId);
    if (known && known.until > now) return known.row;
    const generation = this.keyGeneration;
    const row = await this.db.selectFrom('users').selectAll().where('key_id', '=', keyId).executeTakeFirst();
    if (!row || generation !== this.keyGeneration) return row;
    if (this.keyRecords.size >= KEY_RECORDS_MAX) this.keyRecords.clear();
    this.keyRecords.set(keyId, { row, until: now + KEY_RECORD_MS });
    return row;
  }

  /** After a key is rotated or a user removed: no request is let in on what was read before. */
  private forgetKeys(): void {
    this.keyRecords.clear();
    this.keyGeneration++;
  }

  async row(name: string): Promise<UserRow> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound('user', name, 'see `GET /api/v1/users`');
    return row;
  }

  async byId(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(): Promise<UserT[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('created_at').execute()).map(toApi);
  }

  async create(req: CreateUserT): Promise<{ user: UserT; key: string }> {
    validateName('user', req.name);
    const { keyId, secret } = newKey();
    const row: UserRow = {
      id: randomBytes(6).toString('hex'),
      name: req.name,
      admin: 0,
      key_id: keyId,
      key_hash: hashSecret(secret),
      max_sandboxes: req.quota?.maxSandboxes ?? null,
      max_memory_mb: req.quota?.maxMemoryMb ?? null,
      max_snapshot_bytes: req.quota?.maxSnapshotBytes ?? null,
      max_disk_mb: req.quota?.maxDiskMb ?? null,
      max_gpus: req.quota?.maxGpus ?? null,
      created_at: new Date().toISOString(),
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e, 'users', 'name')) throw new BothubError('NAME_TAKEN', `a user named "${req.name}" already exists; pick another \`name\``);
      throw e;
    }
    return { user: toApi(row), key: formatApiKey(keyId, secret) };
  }

  async rotateKey(name: string): Promise<{ user: UserT; key: string }> {
    const row = await this.row(name);
    const { keyId, secret } = newKey();
    await this.db
      .updateTable('users')
      .set({ key_id: keyId, key_hash: hashSecret(secret) })
      .where('id', '=', row.id)
      .execute();
    this.forgetKeys();
    return { user: toApi(row), key: formatApiKey(keyId, secret) };
  }

  /** Sets the limits given (null removes one). What the user holds is not touched: a lowered limit refuses only what would take more. */
  async setQuota(name: string, quota: SetUserQuotaT): Promise<UserT> {
    const row = await this.row(name);
    if (row.admin) throw new BothubError('INVALID_STATE', 'the admin has no quota (every limit passes it); set quotas on other users');
    await this.db
      .updateTable('users')
      .set({
        ...(quota.maxSandboxes !== undefined && { max_sandboxes: quota.maxSandboxes }),
        ...(quota.maxMemoryMb !== undefined && { max_memory_mb: quota.maxMemoryMb }),
        ...(quota.maxSnapshotBytes !== undefined && { max_snapshot_bytes: quota.maxSnapshotBytes }),
        ...(quota.maxDiskMb !== undefined && { max_disk_mb: quota.maxDiskMb }),
        ...(quota.maxGpus !== undefined && { max_gpus: quota.maxGpus }),
      })
      .where('id', '=', row.id)
      .execute();
    return toApi(await this.row(name));
  }

  async remove(name: string): Promise<UserRow> {
    const row = await this.row(name);
    if (row.admin) throw new BothubError('INVALID_STATE', 'the admin cannot be removed; rotate its key instead (`POST /api/v1/users/admin/rotate-key`)');
    await this.db.deleteFrom('secrets').where('owner_id', '=', row.id).execute();
    await this.db.deleteFrom('users').where('id', '=', row.id).execute();
    this.forgetKeys();
    return row;
  }

  /** Reads the admin key for a CLI on this host (the file is root's, 0600). */
  static async readAdminKey(file: string): Promise<string | undefined> {
    return (await readFile(file, 'utf8').catch(() => ''))?.trim() || undefined;
  }
}
