import type { Logger } from 'pino';
import { chunkSizes, type SnapshotFile } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SnapshotChunks } from './snapshot-chunks.js';

/** Rows per insert: three values each, well under SQLite's limit on bound values. */
const BATCH = 500;

/** An image layer as one tar archive cut into the store's chunks: what a fleet host puts together to have the layer. */
export type LayerArchive = SnapshotFile & { chunks: string[] };

/**
 * Image layers kept in the chunk store as archives, for fleet hosts that
 * read the store themselves (BOTHUB_STORE): each layer's archive is made and
 * uploaded once, then remembered, so the next host (or the next ship) costs
 * the control plane nothing. Its chunks are referenced like a snapshot's
 * (layer_chunks, counted by heldAmong), so no collection takes one an archive
 * needs; the references go when the layer leaves this machine's layer store.
 */
export class LayerArchives {
  /** Archives being made now, by layer: two ships of one layer at once make it once. */
  private readonly making = new Map<string, Promise<LayerArchive>>();

  constructor(
    private readonly db: Db,
    private readonly chunks: SnapshotChunks,
    readonly log: Logger,
  ) {}

  /** The recorded archive of a layer, if it has one. */
  async find(layerId: string): Promise<LayerArchive | undefined> {
    const row = await this.db.selectFrom('layer_archives').selectAll().where('layer_id', '=', layerId).executeTakeFirst();
    return row && { size: row.size, sha256: row.sha256, chunks: JSON.parse(row.chunks_json) as string[], mode: 0o600 };
  }

  /**
   * The layer's archive: the recorded one, else the one `make` stores (it
   * pins each chunk before looking it up, so no collection meanwhile takes
   * it), recorded with its references before the pins go.
   */
  async obtain(layerId: string, make: (pin: (hash: string) => Promise<void>) => Promise<SnapshotFile>): Promise<{ archive: LayerArchive; made: boolean }> {
    const found = await this.find(layerId);
    if (found) return { archive: found, made: false };
    let making = this.making.get(layerId);
    if (making) return { archive: await making, made: false };
    making = this.make(layerId, make).finally(() => this.making.delete(layerId));
    this.making.set(layerId, making);
    return { archive: await making, made: true };
  }

  private async make(layerId: string, make: (pin: (hash: string) => Promise<void>) => Promise<SnapshotFile>): Promise<LayerArchive> {
    const pins = this.chunks.pins();
    let ours: LayerArchive;
    try {
      const file = await make(pins.pin);
      ours = { ...file, chunks: file.chunks ?? [] };
      await this.db.transaction().execute(async (trx) => {
        // Another daemon on this database recorded it meanwhile: theirs stays (ours is collected below).
        if (await trx.selectFrom('layer_archives').select('layer_id').where('layer_id', '=', layerId).executeTakeFirst()) return;
        const row = { layer_id: layerId, size: ours.size, sha256: ours.sha256, chunks_json: JSON.stringify(ours.chunks), created_at: new Date().toISOString() };
        await trx.insertInto('layer_archives').values(row).execute();
        const refs = [...new Map(chunkSizes(ours))].map(([hash, size]) => ({ layer_id: layerId, hash, size }));
        for (let i = 0; i < refs.length; i += BATCH) await trx.insertInto('layer_chunks').values(refs.slice(i, i + BATCH)).execute();
      });
    } finally {
      pins.release();
    }
    const recorded = (await this.find(layerId))!;
    if (recorded.sha256 !== ours.sha256) await this.chunks.collect(ours.chunks);
    this.log.info({ layer: layerId, bytes: recorded.size, chunks: recorded.chunks.length }, 'an image layer was archived into the store');
    return recorded;
  }

  /** Drops the archives of these layers (gone from this machine's layer store, or found damaged), then the chunks nothing else holds. */
  async forget(layerIds: string[]): Promise<void> {
    if (!layerIds.length) return;
    const hashes = await this.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('layer_chunks').select('hash').where('layer_id', 'in', layerIds).execute();
      await trx.deleteFrom('layer_chunks').where('layer_id', 'in', layerIds).execute();
      await trx.deleteFrom('layer_archives').where('layer_id', 'in', layerIds).execute();
      return rows.map((r) => r.hash);
    });
    // The references are gone: a store that does not answer now keeps the chunks until the next collection, and fails nothing.
    if (hashes.length) await this.chunks.collect(hashes).catch((err: unknown) => this.log.warn({ err }, "collecting removed layers' archive chunks failed; the next collection frees them"));
  }

  /** At start: the archives of layers no longer here (removed while the daemon was down, or a crash between the removal and forget). */
  async forgetAllBut(present: string[]): Promise<void> {
    const have = new Set(present);
    const recorded = (await this.db.selectFrom('layer_archives').select('layer_id').execute()).map((r) => r.layer_id);
    await this.forget(recorded.filter((id) => !have.has(id)));
  }
}
