import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import type { SnapshotChunks } from './snapshot-chunks.js';

/** Rows per insert: three values each, well under SQLite's limit on bound values. */
const BATCH = 500;

/**
 * Every host's store keeps the chunks of cold images it let go (a sandbox
 * that woke, or left for another host) for a while: a sandbox moving back
 * then finds most of its pages there, and only what changed is sent again.
 * Bounded in bytes; past the bound the oldest go first, and a chunk leaves
 * the disk only when nothing else holds it (the collector decides).
 */
export class ChunkCache {
  constructor(
    private readonly db: Db,
    private readonly chunks: SnapshotChunks,
    /** BOTHUB_CHUNK_CACHE_MIB in bytes; 0 keeps nothing. */
    readonly boundBytes: number,
    private readonly log: Logger,
  ) {}

  /** Takes chunks in (inside the caller's transaction, the one that drops their last reference); a chunk cached again is younger. */
  async keep(trx: Db, chunks: { hash: string; size: number }[]): Promise<void> {
    if (!this.boundBytes) return;
    const at = new Date().toISOString();
    const rows = chunks.map((c) => ({ hash: c.hash, size: c.size, cached_at: at }));
    for (let i = 0; i < rows.length; i += BATCH)
      await trx
        .insertInto('chunk_cache')
        .values(rows.slice(i, i + BATCH))
        .onConflict((oc) => oc.column('hash').doUpdateSet({ cached_at: at }))
        .execute();
  }

  /** Its size in bytes and chunks. */
  async size(): Promise<{ bytes: number; chunks: number }> {
    const r = await this.db
      .selectFrom('chunk_cache')
      .select((eb) => [eb.fn.countAll<number>().as('chunks'), eb.fn.sum<number>('size').as('bytes')])
      .executeTakeFirstOrThrow();
    return { bytes: Number(r.bytes ?? 0), chunks: Number(r.chunks) };
  }

  /** Drops the oldest places past the bound, then frees the chunks nothing else holds. Returns how many places went. */
  async trim(): Promise<number> {
    const rows = await this.db.selectFrom('chunk_cache').select(['hash', 'size']).orderBy('cached_at', 'desc').orderBy('hash').execute();
    let kept = 0;
    const out: string[] = [];
    for (const r of rows) {
      if (kept + r.size <= this.boundBytes) kept += r.size;
      else out.push(r.hash);
    }
    if (!out.length) return 0;
    for (let i = 0; i < out.length; i += BATCH) await this.db.deleteFrom('chunk_cache').where('hash', 'in', out.slice(i, i + BATCH)).execute();
    const freed = await this.chunks.collect(out);
    this.log.info({ evicted: out.length, freed, keptBytes: kept }, 'chunk cache: the oldest chunks past its bound were let go');
    return out.length;
  }
}
