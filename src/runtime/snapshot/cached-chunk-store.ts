import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ChunkError, type LocalChunkStore } from './chunk-store.js';
import type { PresigningStore, StoreDescription } from './remote-store.js';
import { S3ChunkError, type S3ChunkStore } from './s3-chunk-store.js';

/** A chunk the object store lacks or holds damaged; ChunkError (what a restore turns into "snapshot … is damaged"), worded for S3. */
export class RemoteChunkError extends ChunkError {
  constructor(hash: string, problem: 'missing' | 'damaged') {
    super(hash, problem);
    this.message = new S3ChunkError(hash, problem).message;
  }
}

/** Once over the limit, the cache is trimmed down to this share of it, so eviction does not run after every chunk. */
const LOW_WATER = 0.9;

/**
 * Chunks in S3-compatible storage (the durable copy every snapshot's
 * references point at), with the local chunk directory as a cache of limited
 * size in front of it. A chunk is put to S3 first and only then to the cache,
 * and the cache is filled on a read only from S3: a cached chunk is one S3 has.
 * Eviction (least recently read first; a read sets the file's access time)
 * still asks S3 before deleting, because a directory kept from before
 * BOTHUB_STORE was set can hold chunks S3 never saw.
 */
export class CachedS3ChunkStore implements PresigningStore {
  private cachedBytes = 0;
  private trimming: Promise<void> | null = null;

  constructor(
    readonly remote: S3ChunkStore,
    readonly cache: LocalChunkStore,
    private readonly client: S3Client,
    readonly cacheLimitBytes: number,
    private readonly log: Logger,
  ) {}

  /** The cache's chunk files (a chunk there is one S3 has). */
  get localDir(): string {
    return this.cache.root;
  }

  private cachePath(hash: string): string {
    return join(this.cache.root, hash.slice(0, 2), hash);
  }

  async init(): Promise<void> {
    await this.cache.init();
    this.cachedBytes = 0;
    for await (const c of this.cache.list()) this.cachedBytes += c.size;
    // A store that does not answer now must not keep the daemon from starting; the next chunk kept trims again.
    await this.trim().catch((err: unknown) => this.log.warn({ err }, 'the snapshot cache could not be trimmed now'));
  }

  /** Only S3 counts: a snapshot must never rest on a chunk that exists only in this machine's cache. */
  has(hash: string, size: number): Promise<boolean> {
    return this.remote.has(hash, size);
  }

  async put(hash: string, bytes: Buffer): Promise<void> {
    await this.remote.put(hash, bytes);
    await this.keep(hash, bytes);
  }

  async get(hash: string): Promise<Buffer> {
    try {
      const bytes = await this.cache.get(hash);
      // Both times: the modification time is the last read (a chunk's bytes never change), and orders eviction.
      const now = new Date();
      await this.cache.host.utimes(this.cachePath(hash), now, now).catch(() => undefined);
      return bytes;
    } catch (e) {
      if (!(e instanceof ChunkError)) throw e;
      // Not cached, or the cached copy is damaged: S3's copy is the one that counts.
      if (e.problem === 'damaged') await this.dropCached(hash);
    }
    let bytes: Buffer;
    try {
      bytes = await this.remote.get(hash);
    } catch (e) {
      if (e instanceof S3ChunkError) throw new RemoteChunkError(e.hash, e.problem);
      throw e;
    }
    await this.keep(hash, bytes);
    return bytes;
  }

  async delete(hash: string): Promise<void> {
    await this.remote.delete(hash);
    await this.dropCached(hash);
  }

  /** What S3 holds, then what only the cache holds (a collection removes both). */
  async *list(): AsyncIterable<{ hash: string; size: number }> {
    const seen = new Set<string>();
    for await (const c of this.remote.list()) {
      seen.add(c.hash);
      yield c;
    }
    for await (const c of this.cache.list()) if (!seen.has(c.hash)) yield c;
  }

  /** An S3 PUT answered is durable; the cache needs no sync (a torn cached chunk fails its checksum and is read from S3 again). */
  flush(): Promise<void> {
    return this.remote.flush();
  }

  presignGet(hash: string, seconds: number): Promise<string> {
    return this.remote.presignGet(hash, seconds);
  }

  presignPut(hash: string, size: number, seconds: number): Promise<string> {
    return this.remote.presignPut(hash, size, seconds);
  }

  async describe(): Promise<StoreDescription> {
    const { bucket, prefix } = this.remote.location;
    const base = { backend: 's3' as const, location: `s3://${bucket}${prefix ? `/${prefix}` : ''}`, cacheBytes: this.cachedBytes, cacheLimitBytes: this.cacheLimitBytes };
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(10_000) });
      return { ...base, reachable: true };
    } catch (e) {
      const err = e as Error & { $metadata?: { httpStatusCode?: number } };
      const status = err.$metadata?.httpStatusCode;
      return { ...base, reachable: false, detail: status ? `HTTP ${status} (${err.name})` : err.message };
    }
  }

  private async keep(hash: string, bytes: Buffer): Promise<void> {
    if (this.cacheLimitBytes <= 0) return;
    const before = await this.cache.host.stat(this.cachePath(hash)).catch(() => undefined);
    await this.cache.put(hash, bytes);
    if (!before) this.cachedBytes += bytes.length;
    if (this.cachedBytes > this.cacheLimitBytes) await this.trim();
  }

  private async dropCached(hash: string): Promise<void> {
    const s = await this.cache.host.stat(this.cachePath(hash)).catch(() => undefined);
    await this.cache.delete(hash);
    if (s) this.cachedBytes = Math.max(0, this.cachedBytes - s.size);
  }

  /** Evicts least recently read chunks, each only once S3 is seen to hold it, until the cache is under its low-water mark. One trim at a time. */
  private async trim(): Promise<void> {
    while (this.trimming) await this.trimming;
    if (this.cachedBytes <= this.cacheLimitBytes) return;
    const run = (async () => {
      // What the count said when the listing began: chunks kept or dropped during the trim are added to what the listing finds.
      const counted = this.cachedBytes;
      const entries: { hash: string; size: number; readMs: number }[] = [];
      for await (const { hash, stat } of this.cache.chunkFiles()) entries.push({ hash, size: stat.size, readMs: stat.mtimeMs });
      entries.sort((a, b) => a.readMs - b.readMs);
      let total = entries.reduce((n, e) => n + e.size, 0);
      const target = Math.floor(this.cacheLimitBytes * LOW_WATER);
      let evicted = 0;
      let kept = 0;
      for (const e of entries) {
        if (total <= target) break;
        if (!(await this.remote.has(e.hash, e.size))) {
          kept++;
          continue;
        }
        await this.cache.delete(e.hash);
        total -= e.size;
        evicted++;
      }
      this.cachedBytes = Math.max(0, total + (this.cachedBytes - counted));
      if (evicted || kept) this.log.info({ evicted, keptNotInS3: kept, cachedBytes: this.cachedBytes }, 'snapshot cache trimmed to its size limit');
    })();
    this.trimming = run.finally(() => (this.trimming = null));
    await this.trimming;
  }
}
