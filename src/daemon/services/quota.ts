import { BothubError, formatMb } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { lockPlacement } from '../db/dialect.js';
import type { SandboxRow, UserRow } from '../db/tables.js';

/**
 * The one quota rule. Every path that makes a sandbox or gives one resources
 * (create, run, branch, restore, import, a move here, start, a wake claiming
 * GPUs) calls `enforceQuota` inside the transaction that records it, with the
 * record as it is about to be: what the owner holds then is counted from the
 * records in that same transaction, so two requests can never both take the
 * last place. SQLite runs one transaction at a time; on PostgreSQL the
 * transaction takes the placement lock (lockPlacement) before it reads.
 *
 * What counts:
 * - a place and its memory: sandboxes running or on their way to (creating,
 *   running at any temperature, moving): a stopped one holds neither;
 * - GPUs: those held now (a cold or stopped sandbox let its go);
 * - disk: every sandbox's writable-layer limit, whatever its status (a
 *   stopped sandbox keeps its files).
 */

/** What a sandbox without a memory limit counts for (and gets, when its owner has a memory quota). */
export const QUOTA_DEFAULT_MEMORY_MB = 512;

const ACTIVE = new Set(['creating', 'running', 'moving']);

/** A running sandbox holds its GPUs; a stopped, cold or moving one has let them go and claims them again to run. */
export const holdsGpus = (r: Pick<SandboxRow, 'status' | 'thermal'>) => (r.status === 'running' || r.status === 'creating') && r.thermal !== 'cold';

type Counted = Pick<SandboxRow, 'id' | 'name' | 'status' | 'thermal' | 'memory_mb' | 'gpus' | 'disk_mb'>;

/** One resource: how much a record takes of it, the user's limit, and how the refusal reads. */
interface Rule {
  take: (r: Counted) => number;
  limit: (u: UserRow) => number | null;
  refuse: (u: UserRow, limit: number, held: number, by: string[], wants: number) => string;
}

const names = (by: string[]) => (by.length ? ` (${by.join(', ')})` : '');

const RULES: Rule[] = [
  {
    take: (r) => (ACTIVE.has(r.status) ? 1 : 0),
    limit: (u) => u.max_sandboxes,
    refuse: (u, limit, held, by) =>
      `user ${u.name} may run ${limit} sandbox(es) and has ${held}${names(by)}; destroy or stop one, or ask the admin to raise it (\`PUT /api/v1/users/${u.name}/quota {"maxSandboxes": N}\`)`,
  },
  {
    take: (r) => (ACTIVE.has(r.status) ? (r.memory_mb ?? QUOTA_DEFAULT_MEMORY_MB) : 0),
    limit: (u) => u.max_memory_mb,
    refuse: (u, limit, held, by, wants) =>
      `user ${u.name} may use ${limit} MB of memory and has ${held} MB${names(by)}; this needs ${wants} MB more: ask for less \`memoryMb\`, stop or destroy one, or ask the admin to raise it (\`PUT /api/v1/users/${u.name}/quota {"maxMemoryMb": N}\`)`,
  },
  {
    take: (r) => (holdsGpus(r) ? r.gpus : 0),
    limit: (u) => u.max_gpus,
    refuse: (u, limit, held, by, wants) =>
      `user ${u.name} may hold ${limit} GPU(s) and holds ${held}${names(by)}; this needs ${wants} more: stop one, or ask the admin to raise it (\`PUT /api/v1/users/${u.name}/quota {"maxGpus": N}\`)`,
  },
  {
    take: (r) => r.disk_mb ?? 0,
    limit: (u) => u.max_disk_mb,
    refuse: (u, limit, held, by, wants) =>
      `user ${u.name} may use ${formatMb(limit)} of sandbox disk and has ${formatMb(held)}${names(by)}; this needs ${formatMb(wants)} more: ask for less \`diskMb\`, destroy one, or ask the admin to raise it (\`PUT /api/v1/users/${u.name}/quota {"maxDiskMb": N}\`)`,
  },
];

/**
 * Refuses (LIMIT_EXCEEDED) what would take the owner of `next` past a limit;
 * returns the record with what the quota implies filled in (the memory limit
 * of a sandbox without one, when its owner has a memory quota). `next` is the
 * record as the caller is about to write it, new or changed; `pending` are
 * other records some operation has claimed but not written yet. Only what
 * `next` takes more of than its record holds now is checked: a sandbox over
 * a limit lowered since keeps running, and waking it needs nothing new.
 */
export async function enforceQuota<R extends Counted & Pick<SandboxRow, 'owner_id'>>(tx: Db, next: R, pending: ReadonlyMap<string, Counted> = new Map()): Promise<R> {
  if (!next.owner_id) return next;
  // Callers that read addresses or GPUs first have taken it already; a second take is free.
  await lockPlacement(tx);
  const user = await tx.selectFrom('users').selectAll().where('id', '=', next.owner_id).executeTakeFirst();
  if (!user || user.admin) return next;
  if (next.memory_mb === null && user.max_memory_mb !== null) next = { ...next, memory_mb: QUOTA_DEFAULT_MEMORY_MB };
  if (next.disk_mb === null && user.max_disk_mb !== null)
    throw new BothubError('LIMIT_EXCEEDED', `user ${user.name} has a disk quota, so every sandbox needs a size limit; give \`diskMb\` (such as 2048)`);
  const rows = await tx
    .selectFrom('sandboxes')
    .select(['id', 'name', 'status', 'thermal', 'memory_mb', 'gpus', 'disk_mb'])
    .where('owner_id', '=', next.owner_id)
    .execute();
  const before = pending.get(next.id) ?? rows.find((r) => r.id === next.id);
  const others = rows.filter((r) => r.id !== next.id).map((r) => pending.get(r.id) ?? r);
  for (const rule of RULES) {
    const limit = rule.limit(user);
    const wants = rule.take(next) - (before ? rule.take(before) : 0);
    if (limit === null || wants <= 0) continue;
    const holders = others.filter((r) => rule.take(r) > 0);
    const held = holders.reduce((n, r) => n + rule.take(r), 0);
    if (held + rule.take(next) > limit)
      throw new BothubError(
        'LIMIT_EXCEEDED',
        rule.refuse(
          user,
          limit,
          held,
          holders.map((r) => r.name),
          wants,
        ),
      );
  }
  return next;
}

/**
 * Snapshots are not sandboxes: their bytes are known only once written, so a
 * user under --max-snapshot-bytes may take one more, and the next is refused.
 */
export async function enforceSnapshotQuota(db: Db, ownerId: string | null): Promise<void> {
  if (!ownerId) return;
  const user = await db.selectFrom('users').selectAll().where('id', '=', ownerId).executeTakeFirst();
  if (!user || user.admin || user.max_snapshot_bytes === null) return;
  const used = (await db.selectFrom('snapshots').select('size_bytes').where('owner_id', '=', ownerId).execute()).reduce((n, r) => n + r.size_bytes, 0);
  if (used >= user.max_snapshot_bytes)
    throw new BothubError(
      'LIMIT_EXCEEDED',
      `user ${user.name}'s snapshots use ${used} of ${user.max_snapshot_bytes} bytes; delete some (\`DELETE /api/v1/snapshots/SNAP\`), or ask the admin to raise maxSnapshotBytes`,
    );
}
