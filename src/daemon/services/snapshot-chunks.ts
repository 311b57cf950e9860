import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { SnapshotStoreStatsT } from '../../api/index.js';
import { chunkSizes, type ChunkStore, type DocumentStore, type SnapshotFile } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import { heldAmong } from './chunk-references.js';
import { LayerArchives } from './layer-archives.js';
import { StoredManifests } from './manifest-store.js';

/** Rows per insert: three values each, well under SQLite's limit on bound values. */
const BATCH = 500;

/**
 * The references from snapshots to store chunks, and the collector that
 * frees chunks nothing references. A reference is recorded in the same
 * transaction that makes a snapshot 'ready', and removed in the one that
 * deletes it, before any chunk is: a crash anywhere in a collection can only
 * leave unreferenced chunks behind (the next start sweeps them), never take a
 * referenced one. Chunks an ingest is still writing are pinned in memory.
 */
export class SnapshotChunks {
  private readonly pinSets = new Set<Set<string>>();
  private collecting: Promise<void> | null = null;
  /** Image layers kept in the store as archives, for fleet hosts: their chunks are held here too. */
  readonly layers: LayerArchives;
  /** Manifests kept in the store beside the chunks (BOTHUB_STORE=s3://…); absent when they are only in the data dir. */
  readonly manifests?: StoredManifests;

  constructor(
    private readonly db: Db,
    readonly store: ChunkStore,
    private readonly log: Logger,
    documents?: DocumentStore,
  ) {
    this.layers = new LayerArchives(db, this, log);
    if (documents) this.manifests = new StoredManifests(db, documents, log);
  }

  /** A set of pins for one ingest; release it when the references are recorded (or the ingest failed). */
  pins(): { pin: (hash: string) => Promise<void>; release: () => void } {
    const set = new Set<string>();
    this.pinSets.add(set);
    return {
      // A collection under way finishes first: it looked at the pins before this chunk was looked up.
      pin: async (hash) => {
        while (this.collecting) await this.collecting;
        set.add(hash);
      },
      release: () => void this.pinSets.delete(set),
    };
  }

  private pinned(hash: string): boolean {
    for (const set of this.pinSets) if (set.has(hash)) return true;
    return false;
  }

  /** Records which chunks a snapshot uses (inside the caller's transaction). */
  async reference(trx: Db, snapshotId: string, files: Record<string, SnapshotFile>): Promise<void> {
    const chunks = new Map<string, number>();
    for (const f of Object.values(files)) for (const [hash, size] of chunkSizes(f)) chunks.set(hash, size);
    const rows = [...chunks].map(([hash, size]) => ({ snapshot_id: snapshotId, hash, size }));
    for (let i = 0; i < rows.length; i += BATCH) await trx.insertInto('snapshot_chunks').values(rows.slice(i, i + BATCH)).execute();
  }

  /** Forgets a snapshot's references (inside the caller's transaction); returns the chunks it used, for collect(). */
  async unreference(trx: Db, snapshotId: string): Promise<string[]> {
    const hashes = (await trx.selectFrom('snapshot_chunks').select('hash').where('snapshot_id', '=', snapshotId).execute()).map((r) => r.hash);
    await trx.deleteFrom('snapshot_chunks').where('snapshot_id', '=', snapshotId).execute();
    return hashes;
  }

  /**
   * Deletes the chunks among `candidates` (all the store holds when absent)
   * that nothing holds (no snapshot, cold image or cache place: heldAmong)
   * and no ingest has pinned. One at a time.
   */
  async collect(candidates?: string[]): Promise<number> {
    while (this.collecting) await this.collecting;
    let freed = 0;
    const run = (async () => {
      const names = candidates ?? (await this.listAll());
      for (let i = 0; i < names.length; i += BATCH) {
        const batch = names.slice(i, i + BATCH);
        const referenced = await heldAmong(this.db, batch);
        for (const hash of batch) {
          if (referenced.has(hash) || this.pinned(hash)) continue;
          await this.store.delete(hash);
          freed++;
        }
      }
    })();
    this.collecting = run.finally(() => (this.collecting = null));
    await this.collecting;
    if (freed) this.log.info({ freed }, 'snapshot store: chunks nothing uses were deleted');
    return freed;
  }

  private async listAll(): Promise<string[]> {
    const out: string[] = [];
    for await (const c of this.store.list()) out.push(c.hash);
    return out;
  }

  /** Per snapshot in the store: the bytes of chunks no other snapshot uses (what deleting it alone frees). */
  async uniqueBytes(): Promise<Map<string, number>> {
    // A chunk a cold image or a layer archive also uses stays when the snapshot goes.
    const alone = sql<number>`sum(case when exists (select 1 from snapshot_chunks o where o.hash = c.hash and o.snapshot_id <> c.snapshot_id) or exists (select 1 from cold_chunks k where k.hash = c.hash) or exists (select 1 from layer_chunks l where l.hash = c.hash) then 0 else c.size end)`;
    const rows = await this.db.selectFrom('snapshot_chunks as c').select(['c.snapshot_id', alone.as('bytes')]).groupBy('c.snapshot_id').execute();
    return new Map(rows.map((r) => [r.snapshot_id, Number(r.bytes)]));
  }

  /** The store's size against what its snapshots (and image layer archives) would take without deduplication. */
  async stats(): Promise<SnapshotStoreStatsT> {
    const refs = this.db.selectFrom('snapshot_chunks').select(['hash', 'size']).unionAll(this.db.selectFrom('layer_chunks').select(['hash', 'size'])).as('r');
    const distinct = this.db.selectFrom(refs).select(['r.hash', (eb) => eb.fn.max('r.size').as('size')]).groupBy('r.hash').as('d');
    const stored = await this.db
      .selectFrom(distinct)
      .select((eb) => [eb.fn.countAll<number>().as('chunks'), eb.fn.sum<number>('d.size').as('bytes')])
      .executeTakeFirstOrThrow();
    const logical = await this.db
      .selectFrom('snapshots')
      .select((eb) => eb.fn.sum<number>('size_bytes').as('bytes'))
      .where('id', 'in', (eb) => eb.selectFrom('snapshot_chunks').select('snapshot_id'))
      .executeTakeFirstOrThrow();
    const layers = await this.db
      .selectFrom('layer_archives')
      .select((eb) => eb.fn.sum<number>('size').as('bytes'))
      .executeTakeFirstOrThrow();
    const storedBytes = Number(stored.bytes ?? 0);
    const logicalBytes = Number(logical.bytes ?? 0) + Number(layers.bytes ?? 0);
    return { chunks: Number(stored.chunks), storedBytes, logicalBytes, savedBytes: Math.max(0, logicalBytes - storedBytes) };
  }
}
