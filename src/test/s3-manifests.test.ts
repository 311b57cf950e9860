import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BothubError } from '../core/index.js';
import { parseS3Url, readHostObjects } from '../runtime/index.js';
import { S3Documents, s3ClientFromEnv } from '../runtime/s3.js';
import { LocalHost } from '../hostexec/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { memoryIntact, startMemoryHolder } from './helpers/memory-holder.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

const PREFIX = 'fleet/a';
const TOKEN = 'kept-sealed-0123456789';

describe('BOTHUB_STORE=s3://…: a control plane that lost its disk loses no snapshot (manifests in the bucket; a new daemon on the same PostgreSQL database and bucket)', () => {
  let s3: TestS3;
  let pg: TestPostgres;
  let databaseUrl: string;
  let a: TestDaemon | undefined;
  let b: TestDaemon | undefined;
  let client: S3Client;
  let docs: S3Documents;
  /** Snapshot ids by name, as daemon A recorded them. */
  const ids = new Map<string, string>();
  const sizes = new Map<string, number>();
  let sleeperId = '';

  before(async () => {
    s3 = await startS3();
    pg = await startPostgres();
    databaseUrl = await pg.createDatabase();
    const store = parseS3Url(`s3://${s3.bucket}/${PREFIX}`);
    client = s3ClientFromEnv(s3.env);
    docs = new S3Documents(client, store);
    a = await startTestDaemon({ store: { ...store, env: s3.env }, databaseUrl });
  });
  after(async () => {
    try {
      await b?.cleanup();
      await a?.cleanup();
    } finally {
      await pg?.stop();
      await s3?.stop();
    }
  });

  const key = (name: string) => `manifests/${ids.get(name)}.json`;
  const objectPath = (k: string) => `/${s3.bucket}/${PREFIX}/${k}`;
  const putObject = (k: string, body: Buffer) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${k}`, Body: body }));

  it('daemon A: each snapshot (stopping, leave-running, sealed) is ready only once its manifest is an object in the bucket, put after its chunks; a cold image too', async () => {
    const t = a!;
    await t.api.call('createSandbox', { body: { name: 'counter' } });
    await startMemoryHolder(t, 'counter');
    await sh(t, 'counter', 'echo from-a > /root/note');
    const live = await snapshot(t, 'counter', 'live', true);
    await until('"live" to be ready', async () => ((await t.api.call('getSnapshot', { params: { name: 'live' } })).status === 'ready' ? true : undefined), 600_000);
    await snapshot(t, 'counter', 'stop');

    await t.api.call('setSecret', { params: { name: 'TOKEN' }, body: { value: TOKEN } });
    await t.api.call('createSandbox', { body: { name: 'sealed', secrets: ['TOKEN'] } });
    await startMemoryHolder(t, 'sealed');
    const mark = s3.requests.length;
    const sealed = await snapshot(t, 'sealed', 'sealed-stop');
    assert.equal(sealed.encrypted, true);
    assert.equal(sealed.status, 'ready');

    await t.api.call('createSandbox', { body: { name: 'sleeper' } });
    await startMemoryHolder(t, 'sleeper');
    sleeperId = (await t.api.call('getSandbox', { params: { name: 'sleeper' } })).id;
    await t.api.call('freezeSandbox', { params: { name: 'sleeper' } });

    for (const s of await t.api.call('listSnapshots', { query: {} })) {
      ids.set(s.name, s.id);
      sizes.set(s.name, s.sizeBytes);
      assert.equal(s.status, 'ready');
      const bytes = await docs.get(key(s.name));
      assert.ok(bytes, `${key(s.name)} is in the bucket`);
      const row = await t.daemon.db.selectFrom('stored_manifests').selectAll().where('key', '=', key(s.name)).executeTakeFirstOrThrow();
      assert.equal(row.sha256, createHash('sha256').update(bytes).digest('hex'), 'its checksum is recorded');
      // Only the manifest is in the data dir: every file is chunks (a sealed one's of its ciphertext).
      assert.deepEqual(readdirSync(t.daemon.ctx.snapshots.dirOf(s.id)), ['manifest.json']);
      const manifest = JSON.parse(bytes.toString('utf8')) as { files: Record<string, { chunks?: string[] }> };
      for (const [rel, f] of Object.entries(manifest.files)) assert.ok(f.chunks, `${s.name}: ${rel} is chunks`);
    }
    assert.equal(ids.get('live'), live.id);
    // The sealed snapshot's manifest was put after every one of its chunks (those the bucket lacked).
    const sealedManifest = JSON.parse((await docs.get(key('sealed-stop')))!.toString('utf8')) as { files: Record<string, { chunks: string[] }> };
    const itsChunks = new Set(Object.values(sealedManifest.files).flatMap((f) => f.chunks));
    const puts = s3.requests.slice(mark).filter((r) => r.method === 'PUT');
    const at = puts.findIndex((r) => r.path === objectPath(key('sealed-stop')));
    const chunkPuts = puts.flatMap((r, i) => (itsChunks.has(r.path.split('/').pop()!) ? [i] : []));
    assert.ok(chunkPuts.length > 0 && at > Math.max(...chunkPuts), `the manifest (request ${at}) came after its chunks (${chunkPuts.length}, the last ${Math.max(...chunkPuts)})`);
    assert.ok(await docs.get(`cold/${sleeperId}.json`), 'the cold image\'s chunk list is in the bucket');
  });

  it('A goes with its data dir; B starts on a fresh one (the keys set up again), the same database and bucket, and lists the snapshots with their sizes', async () => {
    const t = a!;
    a = undefined;
    const dataDir = t.config.dataDir;
    const keys = Object.fromEntries(['master.key', 'admin.key'].map((f) => [f, readFileSync(join(dataDir, f), 'utf8')]));
    await t.daemon.close();
    // Nothing of A's runs or is mounted any more (every sandbox is stopped into a snapshot or cold): its disk can go.
    const objects = await readHostObjects(new LocalHost(), { bridge: t.config.bridge, dataDir });
    assert.deepEqual(objects.mounts, []);
    await rm(dataDir, { recursive: true, force: true });
    b = await startTestDaemon({ store: { ...parseS3Url(`s3://${s3.bucket}/${PREFIX}`), env: s3.env }, databaseUrl, bridge: t.config.bridge, subnet: t.config.subnet }, {}, keys);
    const listed = await b.api.call('listSnapshots', { query: {} });
    assert.deepEqual(listed.map((s) => [s.name, s.status, s.sizeBytes]).sort(), [...sizes].map(([n, size]) => [n, 'ready', size]).sort());
    const got = await b.api.call('getSnapshot', { params: { name: 'stop' } });
    assert.ok(got.host?.kernel, 'the manifest was fetched: it says where it was taken');
    // The start swept no manifest a record names.
    for (const name of ids.keys()) assert.ok(await docs.has(key(name)), `${key(name)} is still in the bucket`);
  });

  it('a damaged manifest object fails the restore with one line naming the snapshot; the record and sandboxes stay as they were', async () => {
    const t = b!;
    const good = (await docs.get(key('live')))!;
    await putObject(key('live'), Buffer.from(good.toString('utf8').replace('"counter"', '"counterX"')));
    await assert.rejects(restore(t, 'live', 'from-damaged'), (e: BothubError) => {
      assert.equal(e.code, 'INVALID_STATE');
      assert.equal(
        e.message,
        `snapshot "live" is damaged (its manifest s3://${s3.bucket}/${PREFIX}/${key('live')} does not match the checksum recorded for it); it cannot be restored — delete it (\`DELETE /api/v1/snapshots/live\`)`,
      );
      return true;
    });
    assert.ok(!(await t.api.call('listSandboxes')).some((s) => s.name === 'from-damaged'), 'no branch was made');
    assert.equal((await t.daemon.db.selectFrom('snapshots').select('status').where('name', '=', 'live').executeTakeFirstOrThrow()).status, 'ready');
    assert.ok(!existsSync(join(t.daemon.ctx.snapshots.dirOf(ids.get('live')!), 'manifest.json')), 'the damaged manifest was not kept');
    await putObject(key('live'), good);
  });

  it('B restores and branches them with their state: memory, files, a sealed one with its secret; a cold sandbox wakes', async () => {
    const t = b!;
    await restore(t, 'stop');
    await memoryIntact(t, 'counter');
    assert.equal(await sh(t, 'counter', 'cat /root/note'), 'from-a\n');
    await restore(t, 'live', 'live-b');
    await memoryIntact(t, 'live-b');
    assert.equal(await sh(t, 'live-b', 'cat /root/note'), 'from-a\n');
    await restore(t, 'sealed-stop');
    await memoryIntact(t, 'sealed');
    assert.equal(await sh(t, 'sealed', 'printf %s "$TOKEN"'), TOKEN);
    await restore(t, 'sealed-stop', 'sealed-b');
    await memoryIntact(t, 'sealed-b');
    // An exec wakes the cold sandbox: its chunk list came from the bucket.
    await memoryIntact(t, 'sleeper');
    assert.equal((await t.api.call('getSandbox', { params: { name: 'sleeper' } })).thermal, 'hot');
    assert.equal(await docs.has(`cold/${sleeperId}.json`), false, 'a woken image\'s chunk list goes from the bucket');
  });

  it('doctor --consistency reports a ready snapshot whose manifest object is missing; a delete takes the object; a restart sweeps objects nothing records', async () => {
    const t = b!;
    const good = (await docs.get(key('stop')))!;
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${key('stop')}` }));
    const report = await t.api.call('doctorConsistency', { query: {} });
    const problem = report.problems.find((p) => p.subject === 'stop');
    assert.ok(problem, JSON.stringify(report.problems));
    assert.equal(problem.kind, 'damaged-snapshot');
    assert.match(problem.detail, new RegExp(`its manifest s3://${s3.bucket}/${PREFIX}/${key('stop')} is missing from the store`));
    await putObject(key('stop'), good);
    const again = await t.api.call('doctorConsistency', { query: {} });
    assert.deepEqual(again.problems, [], JSON.stringify(again.problems));

    await t.api.call('deleteSnapshot', { params: { name: 'live' } });
    assert.equal(await docs.has(key('live')), false, 'the manifest object went with the snapshot');
    assert.equal(await t.daemon.db.selectFrom('stored_manifests').select('key').where('key', '=', key('live')).executeTakeFirst(), undefined);
    // An object left by a crash between an upload and its record (or a delete's commit and the object's removal).
    await putObject('manifests/0123456789ab.json', Buffer.from('{}'));
    await t.restart();
    assert.equal(await docs.has('manifests/0123456789ab.json'), false, 'swept at the start');
    for (const name of ['stop', 'sealed-stop']) assert.ok(await docs.has(key(name)), `${name}'s manifest stays`);
  });
});
