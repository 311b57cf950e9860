import { invalid } from '../../core/index.js';
import type { ChunkStore } from './chunk-store.js';

/**
 * What the daemon needs to know of a remote chunk store without loading its
 * client: where BOTHUB_STORE points, how `bothub doctor` describes a store,
 * and whether a store hands out URLs. The S3 code itself (and the AWS SDK
 * it loads) lives in src/runtime/s3.ts, imported only when BOTHUB_STORE is set.
 */

/** Where BOTHUB_STORE=s3://bucket/prefix points. */
export interface S3Location {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket's root. */
  prefix: string;
}

/** Parses s3://bucket[/prefix]; a bucket name as S3 allows it (3-63 of a-z, 0-9, dots, dashes). */
export function parseS3Url(text: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text);
  const prefix = (m?.[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (!m || prefix.split('/').some((p, i, all) => p === '' && all.length > 1) || /[\0\\]/.test(prefix))
    throw invalid(`BOTHUB_STORE must look like s3://BUCKET or s3://BUCKET/PREFIX (got "${text}")`);
  return { bucket: m[1]!, prefix };
}

/** What `bothub doctor` shows of the store. */
export interface StoreDescription {
  backend: 'local' | 's3';
  location: string;
  reachable: boolean;
  detail?: string;
  cacheBytes?: number;
  cacheLimitBytes?: number;
}

/** A store that also hands out URLs a fleet host can read a chunk through by itself. */
export interface PresigningStore extends ChunkStore {
  presignGet(hash: string, seconds: number): Promise<string>;
}

export function canPresign(store: ChunkStore): store is PresigningStore {
  return typeof (store as Partial<PresigningStore>).presignGet === 'function';
}

/**
 * Small objects kept beside the chunks, under the same prefix (snapshot
 * manifests, cold images' chunk lists): with them, a daemon on a fresh data
 * dir restores from the store alone. Keys are relative to the prefix.
 */
export interface DocumentStore {
  /** s3://bucket/prefix, for messages. */
  readonly location: string;
  /** Durable when it resolves; the store checks the bytes against the MD5 sent along. */
  put(key: string, bytes: Buffer): Promise<void>;
  /** The object's bytes; undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Every key under `dir` (e.g. 'manifests/'), relative to the prefix. */
  list(dir: string): AsyncIterable<string>;
}
