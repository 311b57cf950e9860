import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseS3Url } from '../runtime/index.js';
import { S3ChunkStore, s3ClientFromEnv } from '../runtime/s3.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { sh, snapshot, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

const PREFIX = 'fleet';

describe('BOTHUB_STORE: a fleet host reads a snapshot from S3 itself, through presigned URLs', () => {
  let host: TestSshHost;
  let s3: TestS3;
  let t: TestDaemon;
  /** This machine's end of the host's veth pair: where the host reaches the store, and where the control plane's requests come from. */
  let here: string;
  before(async () => {
    host = await startSshHost();
    here = host.address.replace(/\.2$/, '.1');
    s3 = await startS3('bothub-fleet', here);
    t = await startTestDaemon({ store: { ...parseS3Url(`s3://${s3.bucket}/${PREFIX}`), env: s3.env } });
  });
  /** A loaded machine can make the agent miss a heartbeat: wait until the host answers again. */
  const reachable = () =>
    until('host-a reachable', async () => ((await t.api.call('getHost', { params: { name: 'host-a' } })).status === 'reachable' ? true : undefined), 180_000);
  const inBucket = async () => {
    const all = new Set<string>();
    for await (const c of new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/${PREFIX}`)).list()) all.add(c.hash);
    return all;
  };
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await Promise.all([host?.cleanup(), s3?.stop()]);
    }
  });

  it('restore --host: the host GETs exactly the snapshot\'s chunks from the store, the control plane none; the state is intact there', async () => {
    // Straight to the service: installing the agent copies this build over SSH, which on a loaded machine can outlast
    // the five minutes an HTTP client (Node's fetch) waits for an answer's headers, whatever BOTHUB_TIMEOUT says.
    await t.daemon.ctx.hosts.add({ name: 'host-a', ssh: `root@${host.address}`, privateKey: readFileSync(host.keyFile, 'utf8'), dataDir: host.dataDir });
    await t.api.call('createSandbox', { body: { name: 'src' } });
    const sum = await sh(t, 'src', 'head -c 6M /dev/urandom > /root/data && sha256sum < /root/data');
    const snap = await snapshot(t, 'src', 'travel', true);
    // A leave-running snapshot is answered while its durable copy is written.
    await until('the snapshot is ready', async () => ((await t.api.call('getSnapshot', { params: { name: 'travel' } })).status === 'ready' ? true : undefined), 60_000);
    const chunks = new Set(
      (
        await t.daemon.db
          .selectFrom('snapshot_chunks')
          .select('hash')
          .where('snapshot_id', '=', snap.id)
          .execute()
      ).map((r) => r.hash),
    );

    await reachable();
    const mark = s3.requests.length;
    const r = await cli(t.url, ['snapshot', 'restore', 'travel', '--name', 'there', '--host', 'host-a']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'there' } })).host, 'host-a');
    assert.equal(await sh(t, 'there', 'sha256sum < /root/data'), sum);

    const gets = s3.requests.slice(mark).filter((q) => q.method === 'GET' && q.path.startsWith(`/${s3.bucket}/${PREFIX}/chunks/`));
    assert.deepEqual(new Set(gets.filter((q) => q.from === host.address).map((q) => q.path.split('/').pop())), chunks, 'the host read every chunk of the snapshot');
    assert.equal(gets.length, chunks.size, 'each chunk once, and nothing else');
    assert.deepEqual(
      gets.filter((q) => q.from !== host.address),
      [],
      'no chunk was read by the control plane',
    );
    // What the host fetched (chunks, files) is gone once the sandbox runs there.
    assert.deepEqual(existsSync(join(host.dataDir, 'incoming')) ? readdirSync(join(host.dataDir, 'incoming')) : [], []);
  });

  it('move there and back: the source uploads the chunks the store lacks, the target downloads those it does not hold, each through presigned URLs; the store keeps only what the chunk cache holds', async () => {
    const sum = await sh(t, 'src', 'sha256sum < /root/data');
    const snapshotChunks = await inBucket();
    const downloads: number[] = [];
    for (const [to, source, target] of [
      ['host-a', here, host.address],
      ['local', host.address, here],
    ] as const) {
      await reachable();
      const cachedBefore = new Set((await t.daemon.db.selectFrom('chunk_cache').select('hash').execute()).map((c) => c.hash));
      const mark = s3.requests.length;
      const r = await cli(t.url, ['move', 'src', '--to', to]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sh(t, 'src', 'sha256sum < /root/data'), sum, `its files on ${to}`);
      const seen = s3.requests.slice(mark).filter((q) => q.path.startsWith(`/${s3.bucket}/${PREFIX}/chunks/`));
      const puts = seen.filter((q) => q.method === 'PUT');
      const gets = seen.filter((q) => q.method === 'GET');
      assert.ok(puts.length > 0 && puts.every((q) => q.from === source), `every chunk uploaded by the source (${source}): ${JSON.stringify(puts.slice(0, 3))}`);
      assert.ok(gets.every((q) => q.from === target), `every chunk downloaded by the target (${target})`);
      downloads.push(gets.length);
      // Back home, what the control plane's cache kept of the cold image it let go is used from there: only what changed comes down.
      if (to === 'local') {
        assert.deepEqual(gets.filter((q) => cachedBefore.has(q.path.split('/').pop()!)), [], 'no chunk the target held was downloaded');
        assert.ok(downloads[1]! < downloads[0]! / 2, `the way back downloaded ${downloads[1]} chunk(s), the way there ${downloads[0]}`);
      } else assert.ok(gets.length > 0, 'the target held nothing: it downloaded the state');
      // Chunks the store had already (the snapshot's) are looked up, not uploaded again.
      assert.ok(puts.every((q) => !snapshotChunks.has(q.path.split('/').pop()!)), 'no chunk the store had was uploaded');
      // The control plane's chunk cache keeps the chunks of the cold image it let go (a move back uploads only what changed); nothing else stays.
      const cached = (await t.daemon.db.selectFrom('chunk_cache').select('hash').execute()).map((c) => c.hash);
      assert.deepEqual(await inBucket(), new Set([...snapshotChunks, ...cached]), "the move's other chunks are collected afterwards");
    }
  });
});
