import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BothubError } from '../core/index.js';
import { parseS3Url } from '../runtime/snapshot/remote-store.js';
import { S3ChunkError, S3ChunkStore, s3ClientFromEnv } from '../runtime/snapshot/s3-chunk-store.js';
import { startS3, type TestS3 } from './helpers/s3.js';

const chunk = (size = 1000) => {
  const bytes = randomBytes(size);
  return { bytes, hash: createHash('sha256').update(bytes).digest('hex') };
};

const refusal = async (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e as Error,
  );

describe('snapshot chunks in S3-compatible storage (s3rver on loopback)', () => {
  let s3: TestS3;
  let store: S3ChunkStore;
  before(async () => {
    s3 = await startS3();
    store = new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/team-a/snaps`));
  });
  after(() => s3?.stop());

  it('BOTHUB_STORE: s3://bucket or s3://bucket/prefix, anything else refused with what it must look like', () => {
    assert.deepEqual(parseS3Url('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseS3Url('s3://my.bucket/a/b/'), { bucket: 'my.bucket', prefix: 'a/b' });
    for (const bad of ['s3://', 'http://bucket/x', 's3://UPPER/x', 's3://b/x', 's3://bucket/a//b', 'bucket/prefix']) {
      assert.throws(
        () => parseS3Url(bad),
        (e: unknown) => e instanceof BothubError && e.code === 'INVALID_INPUT' && /^BOTHUB_STORE must look like s3:\/\/BUCKET/.test(e.message),
        bad,
      );
    }
  });

  it('put, has (by size), get, delete; a missing chunk is S3ChunkError "missing"', async () => {
    const { bytes, hash } = chunk(64 * 1024);
    assert.equal(await store.has(hash, bytes.length), false);
    await store.put(hash, bytes);
    await store.flush();
    assert.equal(await store.has(hash, bytes.length), true);
    assert.equal(await store.has(hash, bytes.length - 1), false, 'a wrong size is not the chunk');
    assert.ok((await store.get(hash)).equals(bytes));
    assert.equal(store.key(hash), `team-a/snaps/chunks/${hash.slice(0, 2)}/${hash}`);
    await store.delete(hash);
    await store.delete(hash); // again: not an error
    const e = await refusal(store.get(hash));
    assert.ok(e instanceof S3ChunkError && e.problem === 'missing', String(e));
    assert.throws(() => store.key('../../etc/passwd'), /not a chunk name/);
  });

  it('bytes that no longer match their name are S3ChunkError "damaged"', async () => {
    const { bytes, hash } = chunk();
    await store.put(hash, bytes);
    // Something else overwrites the object (bit rot, a buggy tool, tampering).
    const client = s3ClientFromEnv(s3.env);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: store.key(hash), Body: Buffer.concat([bytes.subarray(1), Buffer.from('x')]) }));
    const e = await refusal(store.get(hash));
    assert.ok(e instanceof S3ChunkError && e.problem === 'damaged', String(e));
    await store.delete(hash);
  });

  it('lists every chunk across pages, only its own prefix, skipping objects that are not chunks', async () => {
    const paged = new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/team-a/snaps`), 7);
    const other = new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/team-b`));
    const theirs = chunk(10);
    await other.put(theirs.hash, theirs.bytes);
    const client = s3ClientFromEnv(s3.env);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'team-a/snaps/chunks/ab/not-a-chunk', Body: 'x' }));
    const ours = new Map<string, number>();
    const all = Array.from({ length: 45 }, (_, i) => chunk(1 + (i % 7)));
    for (const c of all) await store.put(c.hash, c.bytes);
    for (const c of all) ours.set(c.hash, c.bytes.length);
    const listed = new Map<string, number>();
    for await (const c of paged.list()) listed.set(c.hash, c.size); // seven pages
    assert.equal(listed.size, ours.size);
    assert.deepEqual(listed, ours);
    assert.ok(!listed.has(theirs.hash));
    const theirsListed = [];
    for await (const c of other.list()) theirsListed.push(c);
    assert.deepEqual(theirsListed, [{ hash: theirs.hash, size: 10 }]);
    for (const h of ours.keys()) await store.delete(h);
    await other.delete(theirs.hash);
  });

  it('presigned URLs: a host reads and writes a chunk with plain HTTP and no credentials; an expired URL is refused', async () => {
    const { bytes, hash } = chunk(4096);
    const put = await fetch(await store.presignPut(hash, bytes.length, 60), { method: 'PUT', body: bytes });
    assert.equal(put.status, 200, await put.text());
    assert.ok((await store.get(hash)).equals(bytes));
    const got = await fetch(await store.presignGet(hash, 60));
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(bytes));
    // Signed an hour ago for a minute: past its time.
    const client = s3ClientFromEnv(s3.env);
    const stale = await getSignedUrl(client, new GetObjectCommand({ Bucket: s3.bucket, Key: store.key(hash) }), { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) });
    const refused = await fetch(stale);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /expired/i);
    await store.delete(hash);
  });

  it('an unknown access key is refused by the store; an aborted call stops', async () => {
    // (s3rver checks the key id; it does not recompute SigV4 signatures, so a wrong secret would pass there.)
    const wrong = new S3ChunkStore(s3ClientFromEnv({ ...s3.env, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' }), parseS3Url(`s3://${s3.bucket}/team-a/snaps`));
    const { bytes, hash } = chunk();
    const e = await refusal(wrong.put(hash, bytes));
    assert.equal(e.name, 'InvalidAccessKeyId', String(e));
    assert.equal(await store.has(hash, bytes.length), false, 'nothing was written');
    const aborted = await refusal(store.put(hash, bytes, AbortSignal.abort()));
    assert.match(aborted.name, /AbortError/, String(aborted));
  });
});
