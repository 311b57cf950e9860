import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MoveResultT, ProgressEventT } from '../api/index.js';
import { parseS3Url } from '../runtime/index.js';
import { S3ChunkStore, s3ClientFromEnv } from '../runtime/s3.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { ownStore, twoLayerArchive } from './helpers/layered-image.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { sh, snapshot, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

const PREFIX = 'layers';

describe('BOTHUB_STORE: a fleet host reads the image layers it lacks from S3 itself', () => {
  let host: TestSshHost;
  let s3: TestS3;
  let t: TestDaemon;
  let work: string;
  /** This machine's end of the host's veth pair: where the host reaches the store, and where the control plane's requests come from. */
  let here: string;
  let layers: string[];
  /** The store's requests before the image was imported (which archives its layers: every daemon on the database sees it). */
  let beforeImport: number;
  const hostLayers = () => join(host.dataDir, 'images', '.layers');
  const archiveChunks = async () => new Set((await t.daemon.db.selectFrom('layer_chunks').select('hash').execute()).map((r) => r.hash));
  const inBucket = async () => {
    const all = new Set<string>();
    for await (const c of new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/${PREFIX}`)).list()) all.add(c.hash);
    return all;
  };
  /** The store's requests since `mark` for these chunks. */
  const requestsFor = (mark: number, hashes: Set<string>) => s3.requests.slice(mark).filter((q) => hashes.has(q.path.split('/').pop()!));

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bothub-s3layers-'));
    host = await startSshHost();
    ownStore(join(host.dataDir, 'images'));
    here = host.address.replace(/\.2$/, '.1');
    s3 = await startS3('bothub-layers', here);
    t = await startTestDaemon({ imagesDir: ownStore(join(work, 'images')), store: { ...parseS3Url(`s3://${s3.bucket}/${PREFIX}`), env: s3.env } });
    beforeImport = s3.requests.length;
    const info = await t.daemon.ctx.images.importArchive('app', createReadStream(twoLayerArchive(work)));
    layers = info.layers ?? [];
    assert.equal(layers.length, 2);
    // Straight to the service: installing the agent copies this build over SSH (slow on a loaded machine).
    await t.daemon.ctx.hosts.add({ name: 'host-a', ssh: `root@${host.address}`, privateKey: readFileSync(host.keyFile, 'utf8'), dataDir: host.dataDir });
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await Promise.all([host?.cleanup(), s3?.stop()]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  const reachable = () =>
    until('host-a reachable', async () => ((await t.api.call('getHost', { params: { name: 'host-a' } })).status === 'reachable' ? true : undefined), 180_000);
  const move = async (name: string, to: string) => {
    await reachable();
    const events: ProgressEventT[] = [];
    const r = await t.api.progress<MoveResultT>('moveSandbox', { params: { name }, body: { to } }, (p) => events.push(p));
    assert.equal(r.to, to);
    return events.filter((e) => e.step === 'image').map((e) => e.message ?? '');
  };

  it('the control plane uploads each layer archive once (at the import); at a move the host downloads it itself; the layers arrive whole (modes, owners, whiteout, opaque directory)', async (ctx) => {
    await t.api.call('createSandbox', { body: { name: 'traveller', image: 'app', command: ['sleep', '100000'], host: 'local' } });
    const mark = s3.requests.length;
    const said = await move('traveller', 'host-a');
    assert.ok(said.some((m) => /2 layer\(s\) sent, 0 there already, read from the store by the host/.test(m)), `progress told of the store: ${JSON.stringify(said)}`);

    const chunks = await archiveChunks();
    const archives = await t.daemon.db.selectFrom('layer_archives').selectAll().execute();
    assert.deepEqual(archives.map((a) => a.layer_id).sort(), [...layers].sort(), 'each layer has its archive');
    assert.ok(chunks.size >= 4, `the archives are several chunks: ${chunks.size}`);
    const seen = requestsFor(mark, chunks);
    const puts = requestsFor(beforeImport, chunks).filter((q) => q.method === 'PUT');
    const gets = seen.filter((q) => q.method === 'GET');
    assert.deepEqual(new Set(puts.map((q) => q.path.split('/').pop())), chunks, 'the control plane uploaded every chunk of the archives');
    assert.deepEqual(seen.filter((q) => q.method === 'PUT'), [], 'the move uploaded none: the import had');
    assert.ok(puts.every((q) => q.from === here));
    assert.deepEqual(new Set(gets.map((q) => q.path.split('/').pop())), chunks, 'the host downloaded every chunk of the archives');
    assert.ok(gets.every((q) => q.from === host.address), 'only the host read them');
    const archiveBytes = archives.reduce((n, a) => n + a.size, 0);
    // `bothub doctor` counts them (no snapshot is in the store yet).
    const doctor = (await t.daemon.ctx.doctor()).store;
    assert.equal(doctor?.chunks, chunks.size);
    assert.equal(doctor?.logicalBytes, archiveBytes);
    ctx.diagnostic(`layer archives: ${archiveBytes} bytes in ${chunks.size} chunks; uploaded by the control plane once, ${gets.length} chunk GETs by the host, 0 bytes over the SSH pipe`);

    assert.match(await sh(t, 'traveller', 'ls -ln /opt/tool'), /^-rwsr-x--- 1 1234 5678 7 /);
    assert.equal(await sh(t, 'traveller', 'cat /opt/tool; ls /srv; test -e /usr/bin/pwd && echo pwd is there || echo pwd is gone'), 'a tool\nabove\npwd is gone\n');
    assert.match(await sh(t, 'traveller', 'ls -ln /opt/blob'), / 3145728 /);
    // On the host, the top layer keeps overlayfs's forms: the whiteout a 0/0 device, the opaque directory its xattr.
    const top = join(hostLayers(), layers[1]!);
    assert.ok(statSync(join(top, 'usr/bin/pwd')).isCharacterDevice());
    assert.match(execFileSync('getfattr', ['--absolute-names', '-n', 'trusted.overlay.opaque', join(top, 'srv')]).toString(), /trusted.overlay.opaque="y"/);
    assert.deepEqual(
      execFileSync('ls', ['-A', hostLayers()]).toString().split('\n').filter(Boolean).sort(),
      [...layers].sort(),
      'no partial directory or fetched archive is left there',
    );
  });

  it('a second ship to a host that lost the layers uploads nothing: the remembered archives are read again', async () => {
    await move('traveller', 'local');
    rmSync(join(host.dataDir, 'images', 'app'), { recursive: true, force: true });
    for (const id of layers) rmSync(join(hostLayers(), id), { recursive: true, force: true });
    const recorded = await t.daemon.db.selectFrom('layer_archives').selectAll().orderBy('layer_id').execute();
    const chunks = await archiveChunks();

    const mark = s3.requests.length;
    const said = await move('traveller', 'host-a');
    assert.ok(said.some((m) => /2 layer\(s\) sent, 0 there already, read from the store by the host/.test(m)), JSON.stringify(said));
    const seen = requestsFor(mark, chunks);
    assert.deepEqual(
      seen.filter((q) => q.method === 'PUT'),
      [],
      'no chunk of the archives was uploaded again',
    );
    assert.equal(seen.filter((q) => q.method === 'GET' && q.from === host.address).length, chunks.size, 'the host read each chunk once');
    assert.deepEqual(await t.daemon.db.selectFrom('layer_archives').selectAll().orderBy('layer_id').execute(), recorded, 'the archives were not made again');
    assert.equal(await sh(t, 'traveller', 'cat /opt/tool; ls /srv'), 'a tool\nabove\n');
  });

  it("deleting an unrelated snapshot, and a full collection, leave the archives' chunks; removing the image frees them", async () => {
    await t.api.call('createSandbox', { body: { name: 'other', image: 'app', command: ['sleep', '100000'], host: 'local' } });
    await sh(t, 'other', 'cat /opt/tool > /root/mine');
    await snapshot(t, 'other', 'unrelated', true);
    await until('the snapshot is ready', async () => ((await t.api.call('getSnapshot', { params: { name: 'unrelated' } })).status === 'ready' ? true : undefined), 60_000);
    assert.ok((await t.daemon.db.selectFrom('snapshot_chunks').select('hash').execute()).length > 0, 'the snapshot is in the store');
    await t.api.call('deleteSnapshot', { params: { name: 'unrelated' } });
    await t.daemon.ctx.snapshots.chunks.collect();
    const chunks = await archiveChunks();
    const bucket = await inBucket();
    assert.deepEqual(
      [...chunks].filter((h) => !bucket.has(h)),
      [],
      'every chunk of the layer archives is still in the store',
    );

    for (const name of ['traveller', 'other']) await t.api.call('destroySandbox', { params: { name } });
    await t.api.call('removeImage', { params: { name: 'app' } });
    assert.deepEqual(await t.daemon.db.selectFrom('layer_archives').selectAll().execute(), []);
    assert.deepEqual(await archiveChunks(), new Set());
    const left = await inBucket();
    assert.deepEqual(
      [...chunks].filter((h) => left.has(h)),
      [],
      "the image's layer archives went with it",
    );
  });
});
