import type { Db } from '../db/database.js';

/**
 * What keeps a chunk of the store: a snapshot's reference, a cold image's
 * reference, an image layer archive's (layer-archives.ts), or a place in the
 * bounded transfer cache (chunk-cache.ts). The
 * collector asks this one question, so every holder counts.
 */
export async function heldAmong(db: Db, hashes: string[]): Promise<Set<string>> {
  if (!hashes.length) return new Set();
  const rows = await db
    .selectFrom('snapshot_chunks')
    .select('hash')
    .where('hash', 'in', hashes)
    .union(db.selectFrom('cold_chunks').select('hash').where('hash', 'in', hashes))
    .union(db.selectFrom('layer_chunks').select('hash').where('hash', 'in', hashes))
    .union(db.selectFrom('chunk_cache').select('hash').where('hash', 'in', hashes))
    .execute();
  return new Set(rows.map((r) => r.hash));
}
