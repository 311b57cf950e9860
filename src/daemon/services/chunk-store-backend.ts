import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Host } from '../../hostexec/index.js';
import { CachedS3ChunkStore, LocalChunkStore, S3ChunkStore, s3ClientFromEnv, type ChunkStore, type S3Location, type StoreDescription } from '../../runtime/index.js';

/** The chunk store snapshots are written to, as the daemon runs it: set up at start, described by `bothub doctor`. */
export interface ChunkStoreBackend {
  store: ChunkStore;
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

/** The local directory alone, or S3 (BOTHUB_STORE) with the directory as a cache of limited size. */
export function chunkStoreBackend(opts: BackendOptions): ChunkStoreBackend {
  const local = new LocalChunkStore(opts.dir, opts.host);
  if (!opts.s3) {
    return {
      store: local,
      init: () => local.init(),
      describe: () => Promise.resolve({ backend: 'local', location: opts.dir, reachable: true }),
    };
  }
  const client = s3ClientFromEnv(opts.env);
  const store = new CachedS3ChunkStore(new S3ChunkStore(client, opts.s3), local, client, opts.cacheLimitBytes, opts.log);
  return { store, init: () => store.init(), describe: () => store.describe() };
}

/** The chunk directory inside the snapshots directory (same disk, same free space). */
export const chunkDirOf = (snapshotsDir: string) => join(snapshotsDir, '.chunks');
