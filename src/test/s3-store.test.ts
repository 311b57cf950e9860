import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BothubError } from '../core/index.js';
import { daemonConfig } from '../daemon/config.js';
import { parseS3Url } from '../runtime/index.js';
import { S3ChunkStore, s3ClientFromEnv } from '../runtime/s3.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { restore, sh, snapshot } from './helpers/sandbox.js';

const MiB = 1 << 20;
const PREFIX = 'team/snaps';

/** The chunk files in a local chunk directory (the cache), and their bytes. */
function cacheOf(dir: string): { hashes: Set<string>; bytes: number } {
  const hashes = new Set<string>();
  let bytes = 0;
  for (const sub of readdirSync(dir).filter((d) => /^[0-9a-f]{2}$/.test(d))) {
    for (const name of readdirSync(join(dir, sub))) {
      hashes.add(name);
      bytes += statSync(join(dir, sub, name)).size;
    }
  }
  return { hashes, bytes };
}

describe('BOTHUB_STORE=s3://…: snapshot chunks in S3-compatible storage, the local directory a cache (s3rver on loopback)', () => {
  let s3: TestS3;
  let t: TestDaemon;
  let bucket: S3ChunkStore;
  let cacheDir: string;
  before(async () => {
    s3 = await startS3();
    // A 4 MiB cache: every snapshot here is bigger, so eviction must keep it under its limit.
    t = await startTestDaemon({ store: { ...parseS3Url(`s3://${s3.bucket}/${PREFIX}`), env: s3.env }, storeCacheMb: 4 });
    bucket = new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/${PREFIX}`));
    cacheDir = join(t.daemon.ctx.snapshots.dir, '.chunks');
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await s3?.stop();
    }
  });

  const inBucket = async () => {
    const all = new Set<string>();
    for await (const c of bucket.list()) all.add(c.hash);
    return all;
  };
  const chunksOf = async (snap: string) =>
    new Set(
      (
        await t.daemon.db
          .selectFrom('snapshot_chunks')
          .innerJoin('snapshots', 'snapshots.id', 'snapshot_chunks.snapshot_id')
          .select('hash')
          .where('snapshots.name', '=', snap)
          .execute()
      ).map((r) => r.hash),
    );
  /** Chunks the control plane PUT to or GOT from the store, by hash, from request `since` on. */
  const chunkRequests = (method: string, since: number) =>
    s3.requests
      .slice(since)
      .filter((r) => r.method === method && r.path.startsWith(`/${s3.bucket}/${PREFIX}/chunks/`))
      .map((r) => r.path.split('/').pop()!);
  const wipeCache = () => {
    for (const sub of readdirSync(cacheDir).filter((d) => /^[0-9a-f]{2}$/.test(d))) rmSync(join(cacheDir, sub), { recursive: true, force: true });
  };
  let bigSum = '';

  it('a malformed BOTHUB_STORE or BOTHUB_STORE_CACHE_MB stops the start with one line; the AWS variables go to the client', async () => {
    assert.throws(
      () => daemonConfig({}, { BOTHUB_STORE: 'https://bucket/x' }),
      (e: unknown) => e instanceof BothubError && e.code === 'INVALID_INPUT' && e.message === 'BOTHUB_STORE must look like s3://BUCKET or s3://BUCKET/PREFIX (got "https://bucket/x")',
    );
    assert.throws(() => daemonConfig({}, { BOTHUB_STORE: 's3://b-1', BOTHUB_STORE_CACHE_MB: 'lots' }), /^BothubError: invalid BOTHUB_STORE_CACHE_MB "lots": use a whole number of MB/);
    const c = daemonConfig({}, { BOTHUB_STORE: 's3://my-bucket/a/b', AWS_ENDPOINT_URL: 'http://10.0.0.1:9000', AWS_REGION: 'eu-west-1', HOME: '/root' });
    assert.deepEqual(c.store, { bucket: 'my-bucket', prefix: 'a/b', env: { AWS_ENDPOINT_URL: 'http://10.0.0.1:9000', AWS_REGION: 'eu-west-1' } });
    assert.equal(c.storeCacheMb, 10240);
    assert.equal(daemonConfig({}, {}).store, undefined, 'no BOTHUB_STORE: the local store');
    const serve = await cli(t.url, ['serve', '--listen', '127.0.0.1:0', '--data-dir', '/nonexistent'], undefined, { BOTHUB_STORE: 's3://Bad_Bucket' });
    assert.equal(serve.code, 2);
    assert.equal(serve.stderr.trim(), 'bothub: BOTHUB_STORE must look like s3://BUCKET or s3://BUCKET/PREFIX (got "s3://Bad_Bucket")');
  });

  it('a snapshot puts its chunks in the bucket; the cache keeps under its limit; a second snapshot uploads only the chunks the store lacks', async () => {
    await t.api.call('createSandbox', { body: { name: 'box' } });
    bigSum = await sh(t, 'box', 'head -c 12M /dev/urandom > /root/big && sha256sum < /root/big');
    let mark = s3.requests.length;
    await snapshot(t, 'box', 'one');
    const one = await chunksOf('one');
    assert.ok(one.size >= 12, `${one.size} chunks`);
    const stored = await inBucket();
    for (const h of one) assert.ok(stored.has(h), `chunk ${h} is in the bucket`);
    assert.deepEqual(new Set(chunkRequests('PUT', mark)), one, 'each of its chunks was PUT (none other)');
    const cache = cacheOf(cacheDir);
    assert.ok(cache.bytes <= 4 * MiB, `the cache holds ${cache.bytes} bytes, over its 4 MiB limit`);

    await restore(t, 'one');
    // 1 MiB rewritten in the middle of the 12 MiB file: the rest of its chunks are the same.
    bigSum = await sh(t, 'box', 'head -c 1M /dev/urandom | dd of=/root/big bs=1M seek=5 conv=notrunc status=none && sha256sum < /root/big');
    const before = await inBucket();
    mark = s3.requests.length;
    await snapshot(t, 'box', 'two');
    const two = await chunksOf('two');
    const fresh = new Set([...two].filter((h) => !before.has(h)));
    const put = new Set(chunkRequests('PUT', mark));
    assert.deepEqual(put, fresh, 'exactly the chunks the store lacked were uploaded');
    assert.ok(put.size < two.size / 2, `${put.size} of ${two.size} chunks uploaded`);
    assert.ok(chunkRequests('HEAD', mark).length >= two.size, 'each chunk was looked up first');
  });

  it('a restore with an empty cache reads every chunk from S3, checked; the state is intact', async () => {
    wipeCache();
    const mark = s3.requests.length;
    await restore(t, 'two');
    assert.equal(await sh(t, 'box', 'sha256sum < /root/big'), bigSum);
    const got = new Set(chunkRequests('GET', mark));
    assert.deepEqual(got, await chunksOf('two'), 'every chunk came from the bucket');
    assert.ok(cacheOf(cacheDir).bytes <= 4 * MiB);
  });

  it('a damaged object in S3 fails the restore with one line naming the snapshot, and nothing is made', async () => {
    const two = await chunksOf('two');
    const victim = [...(await chunksOf('one'))].find((h) => !two.has(h))!;
    const client = s3ClientFromEnv(s3.env);
    const key = bucket.key(victim);
    const bytes = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToByteArray());
    const mid = bytes.length >> 1;
    bytes[mid] = bytes[mid]! ^ 1;
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: bytes }));
    wipeCache();
    const r = await cli(t.url, ['snapshot', 'restore', 'one', '--name', 'broken']);
    assert.equal(r.code, 5, r.stderr);
    // Progress lines come first on stderr; the error is the last line, and one line.
    assert.match(
      r.stderr.trim().split('\n').pop()!,
      /^bothub: snapshot "one" is damaged \(\S+: chunk [0-9a-f]{12}… does not match its checksum\); it cannot be restored — delete it \(`bothub snapshot delete one`\)$/,
    );
    assert.ok(!(await t.api.call('listSandboxes')).some((s) => s.name === 'broken'));
  });

  it('deleting a snapshot deletes the chunks nothing else uses from S3 too', async () => {
    await t.api.call('deleteSnapshot', { params: { name: 'one' } });
    const two = await chunksOf('two');
    assert.deepEqual(await inBucket(), two, 'the bucket holds exactly what "two" references');
  });

  it('doctor shows the store: backend, bucket, reachable, size, cache', async () => {
    const d = await t.api.call('doctor');
    assert.equal(d.store?.backend, 's3');
    assert.equal(d.store?.location, `s3://${s3.bucket}/${PREFIX}`);
    assert.equal(d.store?.reachable, true);
    assert.equal(d.store?.cacheLimitBytes, 4 * MiB);
    assert.equal(d.store?.chunks, (await chunksOf('two')).size);
    const out = await cli(t.url, ['doctor']);
    assert.match(out.stdout, new RegExp(`^store +s3://${s3.bucket}/team/snaps; \\S+ in \\d+ chunks for .*; local cache \\S+ of 4\\.0MB$`, 'm'));
  });

  it('an unreachable store fails a snapshot before it is ready: no snapshot, the sandbox runs on as it was', async () => {
    await s3.stop();
    const failed = await snapshot(t, 'box', 'three').catch((e: unknown) => e);
    assert.ok(failed instanceof Error, 'the snapshot failed');
    assert.ok(!(await t.api.call('listSnapshots', { query: {} })).some((s) => s.name === 'three'));
    assert.equal((await t.api.call('getSandbox', { params: { name: 'box' } })).status, 'running');
    assert.equal(await sh(t, 'box', 'sha256sum < /root/big'), bigSum);
    const d = await t.api.call('doctor');
    assert.equal(d.store?.reachable, false);
  });
});
