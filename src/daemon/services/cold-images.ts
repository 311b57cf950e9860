import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { chunkSizes, SNAPSHOT_PARTS, storeTree, type SnapshotFile } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { ChunkCache } from './chunk-cache.js';
import { coldManifestKey } from './manifest-store.js';
import { materializeOnScratch, type ScratchCopy } from './scratch-copy.js';
import type { SnapshotChunks } from './snapshot-chunks.js';

/** In a cold directory whose files went into the store: each file's chunk list. Written last. */
export const COLD_MANIFEST = 'cold.json';

export interface ColdManifest {
  version: 1;
  sandboxId: string;
  sizeBytes: number;
  files: Record<string, SnapshotFile>;
}

/** Rows per insert: three values each, well under SQLite's limit on bound values. */
const BATCH = 500;

export interface ColdImagesDeps {
  db: Db;
  host: Host;
  chunks: SnapshotChunks;
  cache: ChunkCache;
  /** Where a wake puts the files together (tmpfs mounts), the snapshots' staging directory. */
  scratchDir: string;
  log: Logger;
}

/** A cold image as the chunk store keeps it, if it was put there. */
export async function readColdManifest(dir: string): Promise<ColdManifest | undefined> {
  const text = await readFile(join(dir, COLD_MANIFEST), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as ColdManifest);
}

/** A cold directory holding an image, whole (CRIU's inventory, or sealed) or as chunks. */
export const coldImageIn = (dir: string) => existsSync(join(dir, COLD_MANIFEST));

/**
 * Cold images (thermal-service.ts) in the snapshot store: CRIU dumps into
 * the cold directory as before, then its files go into the store as chunks
 * it lacks (a cold image right after a snapshot of the same sandbox adds
 * almost nothing), the references are recorded, cold.json is written, and
 * the whole files go. A crash at any point leaves a complete image: the
 * whole files until cold.json is in place, the chunks (referenced first)
 * after. Letting an image go moves its chunks into the bounded cache.
 */
export class ColdImages {
  constructor(private readonly deps: ColdImagesDeps) {}

  /** The store keeps manifests too (S3): sealed and GPU images go into it as well (ciphertext chunks), so no image rests on this disk alone. */
  get keepsEverything(): boolean {
    return this.deps.chunks.manifests !== undefined;
  }

  async ingest(sandboxId: string, dir: string, signal?: AbortSignal): Promise<ColdManifest> {
    const { db, chunks, host } = this.deps;
    const pins = chunks.pins();
    try {
      const files = await storeTree(host, dir, chunks.store, { pin: pins.pin, signal, skip: (rel) => rel === COLD_MANIFEST });
      await chunks.store.flush();
      const manifest: ColdManifest = { version: 1, sandboxId, sizeBytes: Object.values(files).reduce((n, f) => n + f.size, 0), files };
      // With the store in S3, cold.json is kept there too (after its chunks): a daemon on a fresh data dir wakes the sandbox.
      const uploaded = await chunks.manifests?.upload(coldManifestKey(sandboxId), manifest);
      // Referenced before cold.json names them: the collector can never take a chunk an image on disk needs.
      await db.transaction().execute(async (trx) => {
        if (uploaded) await chunks.manifests!.record(trx, uploaded);
        await trx.deleteFrom('cold_chunks').where('sandbox_id', '=', sandboxId).execute();
        await trx.deleteFrom('cold_images').where('sandbox_id', '=', sandboxId).execute();
        const refs = new Map<string, number>();
        for (const f of Object.values(files)) for (const [hash, size] of chunkSizes(f)) refs.set(hash, size);
        const rows = [...refs].map(([hash, size]) => ({ sandbox_id: sandboxId, hash, size }));
        for (let i = 0; i < rows.length; i += BATCH) await trx.insertInto('cold_chunks').values(rows.slice(i, i + BATCH)).execute();
        await trx.insertInto('cold_images').values({ sandbox_id: sandboxId, size_bytes: manifest.sizeBytes, created_at: new Date().toISOString() }).execute();
      });
      const partial = join(dir, `.${COLD_MANIFEST}.partial`);
      await writeFile(partial, JSON.stringify(manifest));
      await host.run('sync', ['--file-system', partial]);
      await rename(partial, join(dir, COLD_MANIFEST));
      await host.run('sync', [dir]);
      for (const rel of Object.keys(files)) await rm(join(dir, rel), { force: true });
      await Promise.all(['criu', 'fs'].map((d) => rm(join(dir, d), { recursive: true, force: true })));
      return manifest;
    } finally {
      pins.release();
    }
  }

  /**
   * A directory CRIU can restore from: `dir` itself for a whole image, else
   * its files put together from the store on a tmpfs, every chunk checked as
   * it is read (a damaged one fails here, before the sandbox is touched).
   */
  async open(sandboxName: string, dir: string, opts: { signal?: AbortSignal; lazy?: boolean } = {}): Promise<ScratchCopy> {
    const manifest = (await readColdManifest(dir)) ?? (await this.fetch(basename(dir), dir, sandboxName));
    if (!manifest) return { dir, release: async () => undefined };
    // For a lazy wake the memory is served from the chunks; a GPU image restores eagerly, and a sealed one's chunks are ciphertext.
    const lazy = opts.lazy && !manifest.files[SNAPSHOT_PARTS.gpu] && !manifest.files[SNAPSHOT_PARTS.sealedMarker] ? { criuDir: SNAPSHOT_PARTS.criu } : undefined;
    return materializeOnScratch(this.deps.host, this.deps.scratchDir, manifest.files, dir, this.deps.chunks.store, {
      lazy,
      signal: opts.signal,
      damaged: (problem) => new BothubError('INVALID_STATE', `the cold image of sandbox "${sandboxName}" is damaged (${problem})`),
    });
  }

  /** cold.json from the store (checked against its recorded checksum) into `dir`, when the data dir lost it; undefined when the store has none. */
  private async fetch(sandboxId: string, dir: string, sandboxName: string): Promise<ColdManifest | undefined> {
    const subject = { what: `the cold image of sandbox "${sandboxName}"`, fix: 'it stays cold — check the store, or stop the sandbox and start it afresh' };
    const bytes = await this.deps.chunks.manifests?.fetch(coldManifestKey(sandboxId), join(dir, COLD_MANIFEST), subject);
    return bytes && (JSON.parse(bytes.toString('utf8')) as ColdManifest);
  }

  /** The image goes: its references into the cache (one transaction), then its directory, then the chunks nothing holds. */
  async release(sandboxId: string, dir: string): Promise<void> {
    const { db, chunks, cache } = this.deps;
    const held = await db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('cold_chunks').select(['hash', 'size']).where('sandbox_id', '=', sandboxId).execute();
      await cache.keep(trx, rows);
      await trx.deleteFrom('cold_chunks').where('sandbox_id', '=', sandboxId).execute();
      await trx.deleteFrom('cold_images').where('sandbox_id', '=', sandboxId).execute();
      await chunks.manifests?.forget(trx, coldManifestKey(sandboxId));
      return rows.map((r) => r.hash);
    });
    await chunks.manifests?.remove(coldManifestKey(sandboxId));
    await rm(dir, { recursive: true, force: true });
    if (held.length) {
      await chunks.collect(held);
      await cache.trim();
    }
  }

  /** At start: references of images whose directory is gone (a crash between removing one and its records) are let go. */
  async sweep(coldDir: (sandboxId: string) => string): Promise<void> {
    const ids = (await this.deps.db.selectFrom('cold_images').select('sandbox_id').execute()).map((r) => r.sandbox_id);
    const refIds = (await this.deps.db.selectFrom('cold_chunks').select('sandbox_id').distinct().execute()).map((r) => r.sandbox_id);
    for (const id of new Set([...ids, ...refIds])) {
      if (coldImageIn(coldDir(id)) || existsSync(join(coldDir(id), 'criu', 'inventory.img'))) continue;
      // A fresh data dir: the store keeps its cold.json (a store that does not answer now leaves the references for the next start).
      const cold = (await this.deps.db.selectFrom('sandboxes').select('thermal').where('id', '=', id).executeTakeFirst())?.thermal === 'cold';
      const fetched = cold && (await this.fetch(id, coldDir(id), id).catch((err: unknown) => (this.deps.log.error({ err, sandbox: id }, 'a cold image could not be fetched from the store'), true)));
      if (fetched) continue;
      this.deps.log.warn({ sandbox: id }, 'forgetting the chunk references of a cold image that is gone');
      await this.release(id, coldDir(id));
    }
    await this.deps.cache.trim();
  }
}
