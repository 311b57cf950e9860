import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Host } from '../../hostexec/index.js';
import { LocalChunkStore, type ChunkStore, type DocumentStore, type S3Location, type StoreDescription } from '../../runtime/index.js';

/** The chunk store snapshots are written to, as the daemon runs it: set up at start, described by `bothub doctor`. */
export interface ChunkStoreBackend {
  store: ChunkStore;
  /** Where manifests are kept beside the chunks (S3): absent for the local store, whose manifests are in the data dir. */
  documents?: DocumentStore;
  /** Creates what it needs and drops what a crash left half-written. */
  init(): Promise<void>;
  describe(): Promise<StoreDescription>;
}

export interface BackendOptions {
  /** The local chunk directory: the store itself, or the cache in front of S3. */
  dir: string;
  host: Host;
  /** BOTHUB_STORE, when set. */
  s3?: S3Location;
  cacheLimitBytes: number;
  env?: NodeJS.ProcessEnv;
  log: Logger;
}

/** The local chunk directory as the store. */
export function localChunkBackend(dir: string, host: Host): ChunkStoreBackend {
  const store = new LocalChunkStore(dir, host);
  return { store, init: () => store.init(), describe: () => Promise.resolve({ backend: 'local', location: dir, reachable: true }) };
}

/**
 * The local directory alone, or S3 (BOTHUB_STORE) with the directory as a
 * cache of limited size. The S3 code (and the AWS SDK) is loaded only then.
 */
export async function chunkStoreBackend(opts: BackendOptions): Promise<ChunkStoreBackend> {
  if (!opts.s3) return localChunkBackend(opts.dir, opts.host);
  const { CachedS3ChunkStore, S3ChunkStore, S3Documents, s3ClientFromEnv } = await import('../../runtime/s3.js');
  const client = s3ClientFromEnv(opts.env);
  const store = new CachedS3ChunkStore(new S3ChunkStore(client, opts.s3), new LocalChunkStore(opts.dir, opts.host), client, opts.cacheLimitBytes, opts.log);
  return { store, documents: new S3Documents(client, opts.s3), init: () => store.init(), describe: () => store.describe() };
}

/** The chunk directory inside the snapshots directory (same disk, same free space). */
export const chunkDirOf = (snapshotsDir: string) => join(snapshotsDir, '.chunks');
