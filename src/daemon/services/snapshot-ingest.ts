import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Host } from '../../hostexec/index.js';
import { MANIFEST, StepError, storeTree, type SnapshotManifest, type Staging } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import { snapshotManifestKey, type Uploaded } from './manifest-store.js';
import type { SnapshotChunks } from './snapshot-chunks.js';

/** `.partial-<snapshot id>.<sandbox id>`: a snapshot directory not yet complete (removed at start). */
export const PARTIAL = '.partial-';
/** The chunk store, inside the snapshots directory (same disk, same free space). */
export const CHUNKS_DIR = '.chunks';

/** Bytes of every file under a directory (a staging area: fast to walk). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

export interface IngestDeps {
  db: Db;
  host: Host;
  chunks: SnapshotChunks;
  /** The snapshots directory. */
  dir: string;
}

/**
 * Makes a staged dump durable: its files go into the chunk store as chunks
 * the store lacks, the store is synced, the manifest (with every file's chunk
 * list) is written under a partial name, synced and renamed, and put in the
 * store too when it keeps manifests (S3: manifest-store.ts), and then, in one
 * transaction, the snapshot's chunk references (and its manifest's checksum)
 * are recorded and it becomes 'ready'. Until that transaction nothing claims
 * the snapshot is complete. The dump stays: the caller releases it (or
 * restores from it). A sealed or GPU dump written whole comes here too when
 * the store is S3 (snapshot-writer.ts), hence a name of its own for the
 * manifest's directory, apart from that dump's.
 */
export async function ingestStaged(deps: IngestDeps, staging: Pick<Staging, 'dir'>, manifest: Omit<SnapshotManifest, 'files' | 'sizeBytes'>, signal?: AbortSignal): Promise<SnapshotManifest> {
  const { db, host, chunks, dir } = deps;
  const partial = join(dir, `${PARTIAL}${manifest.id}.${manifest.sandbox.id}.manifest`);
  const pins = chunks.pins();
  let uploaded: Uploaded | undefined;
  try {
    const files = await storeTree(host, staging.dir, chunks.store, { pin: pins.pin, signal }).catch((e: Error) => Promise.reject(new StepError('store', e.message, e)));
    const full: SnapshotManifest = { ...manifest, files, sizeBytes: Object.values(files).reduce((n, f) => n + f.size, 0) };
    await chunks.store.flush();
    await mkdir(partial, { recursive: true, mode: 0o700 });
    await writeFile(join(partial, MANIFEST), JSON.stringify(full, null, 2));
    await host.run('sync', ['--file-system', partial]);
    // A copy a crash cut short after this rename, before the record said 'ready', is finished again (snapshot-resume.ts).
    await rm(join(dir, manifest.id), { recursive: true, force: true });
    await rename(partial, join(dir, manifest.id));
    await host.run('sync', [dir]);
    // After its chunks, before 'ready': a daemon on a fresh data dir finds it there.
    uploaded = await chunks.manifests?.upload(snapshotManifestKey(manifest.id), full);
    await db.transaction().execute(async (trx) => {
      if (uploaded) await chunks.manifests!.record(trx, uploaded);
      await chunks.reference(trx, manifest.id, files);
      await trx.updateTable('snapshots').set({ status: 'ready', size_bytes: full.sizeBytes }).where('id', '=', manifest.id).execute();
    });
    return full;
  } catch (e) {
    await rm(partial, { recursive: true, force: true });
    await rm(join(dir, manifest.id), { recursive: true, force: true });
    await db.deleteFrom('snapshots').where('id', '=', manifest.id).execute();
    if (uploaded) await chunks.manifests!.remove(uploaded.key);
    // The chunks it alone had written are garbage now; a full disk gets its space back at once.
    pins.release();
    await chunks.collect().catch(() => undefined);
    throw e;
  } finally {
    pins.release();
  }
}
