import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Location } from './remote-store.js';

/**
 * A chunk whose bytes no longer hash to its name, or one that is gone. The
 * same shape as the local chunk store's ChunkError (src/runtime/snapshot),
 * which replaces it once both are merged.
 */
export class S3ChunkError extends Error {
  constructor(
    readonly hash: string,
    readonly problem: 'missing' | 'damaged',
  ) {
    super(`chunk ${hash.slice(0, 12)}… ${problem === 'missing' ? 'is missing from the object store' : 'does not match its checksum'}`);
  }
}

/**
 * An S3 client from the environment, as the AWS SDK reads it (AWS_REGION,
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or any other credential source),
 * plus AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an S3-compatible service
 * (MinIO, Ceph's gateway, s3rver), which is then addressed by path
 * (http://host/bucket/key): such services rarely resolve bucket host names.
 */
export function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const keys = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY;
  return new S3Client({
    // Keys given here win; else the SDK's own chain (profiles, instance roles, web identity).
    credentials: keys ? { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY!, sessionToken: env.AWS_SESSION_TOKEN || undefined } : undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    endpoint,
    forcePathStyle: endpoint !== undefined,
    // Checksums only where S3 requires them: stores speaking the older protocol refuse or garble the newer trailers.
    // Every chunk is checked against its sha256 name on the way back anyway.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const HASH = /^[0-9a-f]{64}$/;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/** An S3 answer that the object is not there (404, NoSuchKey, NotFound). */
export const notThere = (e: unknown) => e instanceof S3ServiceException && (e.$metadata.httpStatusCode === 404 || e.name === 'NoSuchKey' || e.name === 'NotFound');

/**
 * Snapshot chunks in S3-compatible storage, named by the sha256 of their
 * bytes: `<prefix>/chunks/<first two hex digits>/<hash>`, the local store's
 * layout. An S3 PUT is atomic (readers see the whole object or none) and
 * durable once answered, so `flush` has nothing left to do. Fleet hosts can
 * move a chunk's bytes themselves through a presigned URL, without passing
 * them through the control plane.
 */
export class S3ChunkStore {
  constructor(
    private readonly client: S3Client,
    readonly location: S3Location,
    /** Keys per listing request; S3's own most (1,000) unless a test wants many pages of few. */
    private readonly pageSize = 1000,
  ) {}

  key(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a chunk name: ${hash}`);
    return `${this.chunksPrefix()}${hash.slice(0, 2)}/${hash}`;
  }

  private chunksPrefix(): string {
    return this.location.prefix ? `${this.location.prefix}/chunks/` : 'chunks/';
  }

  /** Whether a chunk of that name and size is there. */
  async has(hash: string, size: number, signal?: AbortSignal): Promise<boolean> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash) }), { abortSignal: signal });
      return head.ContentLength === size;
    } catch (e) {
      if (notThere(e)) return false;
      throw e;
    }
  }

  /** Stores bytes under their hash; the store checks them against the MD5 sent along, so a damaged upload is refused. */
  async put(hash: string, bytes: Buffer, signal?: AbortSignal): Promise<void> {
    const md5 = createHash('md5').update(bytes).digest('base64');
    await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash), Body: bytes, ContentLength: bytes.length, ContentMD5: md5 }), {
      abortSignal: signal,
    });
  }

  /** The chunk's bytes, checked against its name; S3ChunkError when missing or damaged. */
  async get(hash: string, signal?: AbortSignal): Promise<Buffer> {
    let bytes: Buffer;
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash) }), { abortSignal: signal });
      bytes = Buffer.from(await got.Body!.transformToByteArray());
    } catch (e) {
      if (notThere(e)) throw new S3ChunkError(hash, 'missing');
      throw e;
    }
    if (sha256(bytes) !== hash) throw new S3ChunkError(hash, 'damaged');
    return bytes;
  }

  /** Deleting a chunk that is not there is not an error (S3's own rule). */
  async delete(hash: string, signal?: AbortSignal): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash) }), { abortSignal: signal });
  }

  /** Every chunk under the prefix, a page at a time; objects that are not chunks are skipped. */
  async *list(signal?: AbortSignal): AsyncIterable<{ hash: string; size: number }> {
    const prefix = this.chunksPrefix();
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.pageSize }), {
        abortSignal: signal,
      });
      for (const o of page.Contents ?? []) {
        const [dir, name] = (o.Key ?? '').slice(prefix.length).split('/');
        if (name && HASH.test(name) && dir === name.slice(0, 2)) yield { hash: name, size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A PUT answered is durable: nothing to wait for. */
  async flush(): Promise<void> {}

  /** A URL that reads one chunk for `seconds`, for a host that fetches it itself (plain HTTP GET, no credentials). */
  presignGet(hash: string, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash) }), { expiresIn: seconds });
  }

  /** A URL that writes one chunk of exactly `size` bytes for `seconds` (plain HTTP PUT). */
  presignPut(hash: string, size: number, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(hash), ContentLength: size }), { expiresIn: seconds });
  }
}
