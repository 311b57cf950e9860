import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DocumentStore, S3Location } from './remote-store.js';
import { notThere } from './s3-chunk-store.js';

/** A key relative to the prefix: a path of plain names, never one that climbs out or starts with a slash. */
const KEY = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/**
 * Small objects (manifests) under BOTHUB_STORE's prefix, beside its
 * `chunks/`: `<prefix>/<key>`. A PUT is atomic and durable once answered,
 * as for chunks; what the bytes must hash to is kept by the caller (the
 * database), which checks a fetched object.
 */
export class S3Documents implements DocumentStore {
  constructor(
    private readonly client: S3Client,
    readonly where: S3Location,
  ) {}

  get location(): string {
    return `s3://${this.where.bucket}${this.where.prefix ? `/${this.where.prefix}` : ''}`;
  }

  private key(key: string): string {
    if (!KEY.test(key) || key.split('/').some((p) => p === '.' || p === '..')) throw new Error(`not a document key: ${key}`);
    return this.where.prefix ? `${this.where.prefix}/${key}` : key;
  }

  async put(key: string, bytes: Buffer): Promise<void> {
    const md5 = createHash('md5').update(bytes).digest('base64');
    await this.client.send(
      new PutObjectCommand({ Bucket: this.where.bucket, Key: this.key(key), Body: bytes, ContentLength: bytes.length, ContentMD5: md5, ContentType: 'application/json' }),
    );
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: this.key(key) }));
      return Buffer.from(await got.Body!.transformToByteArray());
    } catch (e) {
      if (notThere(e)) return undefined;
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: this.key(key) }));
      return true;
    } catch (e) {
      if (notThere(e)) return false;
      throw e;
    }
  }

  /** Deleting what is not there is not an error (S3's own rule). */
  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.key(key) }));
  }

  async *list(dir: string): AsyncIterable<string> {
    const base = this.where.prefix ? `${this.where.prefix}/` : '';
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: base + dir, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) yield o.Key.slice(base.length);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
