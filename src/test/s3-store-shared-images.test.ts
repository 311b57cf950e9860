import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageT } from '../api/index.js';
import { parseS3Url } from '../runtime/index.js';
import { S3ChunkStore, s3ClientFromEnv } from '../runtime/s3.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { addHostThrough, startDaemonCluster, type DaemonCluster } from './helpers/daemon-cluster.js';
import type { DaemonProcess } from './helpers/daemon-process.js';
import { ownStore, twoLayerArchive } from './helpers/layered-image.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { sh, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

const PREFIX = 'shared';

const storeEnv = (s3: TestS3) => ({ BOTHUB_STORE: `s3://${s3.bucket}/${PREFIX}`, ...s3.env });
const inBucket = async (s3: TestS3) => {
  const all = new Set<string>();
  for await (const c of new S3ChunkStore(s3ClientFromEnv(s3.env), parseS3Url(`s3://${s3.bucket}/${PREFIX}`)).list()) all.add(c.hash);
  return all;
};
const layerDirs = (imagesDir: string) => readdirSync(join(imagesDir, '.layers')).filter((e) => !e.startsWith('.'));

/** A layer as the image has it: the setuid file of another owner, the whiteout a 0/0 device, the opaque directory its xattr. */
function assertTopLayerWhole(layerDir: string): void {
  const tool = statSync(join(layerDir, 'opt/tool'));
  assert.equal(tool.mode & 0o7777, 0o4750);
  assert.deepEqual([tool.uid, tool.gid], [1234, 5678]);
  assert.ok(statSync(join(layerDir, 'usr/bin/pwd')).isCharacterDevice(), 'the whiteout is a device');
  assert.match(execFileSync('getfattr', ['--absolute-names', '-n', 'trusted.overlay.opaque', join(layerDir, 'srv')]).toString(), /trusted.overlay.opaque="y"/);
}

describe('BOTHUB_STORE: one daemon with local sandboxes, its layer directory a cache of 0 MB', () => {
  let s3: TestS3;
  let t: TestDaemon;
  let work: string;
  let imagesDir: string;
  let layers: string[];
  const archiveChunks = async () => new Set((await t.daemon.db.selectFrom('layer_chunks').select('hash').execute()).map((r) => r.hash));
  const layersHere = () => layerDirs(imagesDir).filter((id) => layers.includes(id)).sort();
  /** The layers' last use, as if it were two minutes ago: what the cache keeps for a moment after an image is used is over. */
  const longAgo = () => {
    const then = new Date(Date.now() - 120_000);
    for (const id of layers) if (existsSync(join(imagesDir, '.layer-use', id))) utimesSync(join(imagesDir, '.layer-use', id), then, then);
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bothub-shared-images-'));
    imagesDir = ownStore(join(work, 'images'));
    s3 = await startS3('bothub-shared');
    // No chunk cache either: every layer that comes back is read from the store.
    t = await startTestDaemon({ imagesDir, store: { ...parseS3Url(`s3://${s3.bucket}/${PREFIX}`), env: s3.env }, storeCacheMb: 0, layerCacheMb: 0 });
    const info = await t.daemon.ctx.images.importArchive('app', createReadStream(twoLayerArchive(work)));
    layers = info.layers ?? [];
    assert.equal(layers.length, 2);
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await s3?.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('an imported image is recorded with its layers archived in the store; unused, its layers leave the cache', async () => {
    const [row] = await t.daemon.db.selectFrom('shared_images').selectAll().execute();
    assert.equal(row?.name, 'app');
    assert.deepEqual((JSON.parse(row.info_json) as ImageT).layers, layers);
    const archives = await t.daemon.db.selectFrom('layer_archives').select('layer_id').execute();
    assert.deepEqual(archives.map((a) => a.layer_id).sort(), [...layers].sort());
    const bucket = await inBucket(s3);
    assert.deepEqual([...(await archiveChunks())].filter((h) => !bucket.has(h)), [], 'every chunk of the archives is in the store');
    await until('the unused layers to leave the cache', async () => (layersHere().length === 0 ? true : undefined), 30_000);
    // Still an image: listed, inspected, from its record here.
    assert.deepEqual((await t.api.call('listImages')).map((i) => i.name), ['app', 'debian']);
    assert.equal((await t.api.call('getImage', { params: { name: 'app' } })).layers?.length, 2);
  });

  it('two uses at once bring the layers back once, each chunk read from the store once and checked, whole (owners, modes, whiteout, opaque directory)', async () => {
    const chunks = await archiveChunks();
    const mark = s3.requests.length;
    await Promise.all([t.daemon.ctx.images.require('app'), t.daemon.ctx.images.require('app')]);
    assert.deepEqual(layersHere(), [...layers].sort());
    const gets = s3.requests.slice(mark).filter((q) => q.method === 'GET' && chunks.has(q.path.split('/').pop()!));
    assert.equal(gets.length, chunks.size, 'each chunk was read once');
    assertTopLayerWhole(join(imagesDir, '.layers', layers[1]!));
    assert.deepEqual(
      readdirSync(join(imagesDir, '.layers')).filter((e) => !layers.includes(e)),
      [],
      'no partial directory is left',
    );
  });

  it("a sandbox's layers stay however small the cache; once it is gone they go, and come back when a sandbox needs them", async () => {
    await t.api.call('createSandbox', { body: { name: 'user', image: 'app', command: ['sleep', '100000'] } });
    longAgo();
    await t.daemon.ctx.sharedImages!.cache.trim();
    assert.deepEqual(layersHere(), [...layers].sort(), 'a local sandbox stands on them');
    assert.equal(await sh(t, 'user', 'cat /opt/tool; ls /srv; test -e /usr/bin/pwd && echo pwd is there || echo pwd is gone'), 'a tool\nabove\npwd is gone\n');

    await t.api.call('destroySandbox', { params: { name: 'user' } });
    longAgo();
    assert.equal(await t.daemon.ctx.sharedImages!.cache.trim(), 2);
    assert.deepEqual(layersHere(), []);

    await t.api.call('createSandbox', { body: { name: 'again', image: 'app', command: ['sleep', '100000'] } });
    assert.deepEqual(layersHere(), [...layers].sort());
    assert.match(await sh(t, 'again', 'ls -ln /opt/tool'), /^-rwsr-x--- 1 1234 5678 7 /);
    assert.match(await sh(t, 'again', 'ls -ln /opt/blob'), / 3145728 /);
  });

  it('an image saved from a sandbox is recorded too: its new layer archived, the ones below shared', async () => {
    const saved = await t.api.progress<ImageT>('saveImage', { params: { name: 'again' }, body: { name: 'baked' } }, () => undefined);
    const row = await t.daemon.db.selectFrom('shared_images').selectAll().where('name', '=', 'baked').executeTakeFirstOrThrow();
    const recorded = (JSON.parse(row.info_json) as ImageT).layers ?? [];
    assert.deepEqual(recorded, saved.layers);
    assert.deepEqual(recorded.slice(0, 2), layers);
    assert.ok(await t.daemon.db.selectFrom('layer_archives').select('layer_id').where('layer_id', '=', recorded[2]!).executeTakeFirst(), 'the saved layer is archived');
    await t.api.call('destroySandbox', { params: { name: 'again' } });
    await t.api.call('removeImage', { params: { name: 'baked' } });
    assert.equal(await t.daemon.db.selectFrom('layer_archives').select('layer_id').where('layer_id', '=', recorded[2]!).executeTakeFirst(), undefined, 'its own layer went');
    assert.equal((await t.daemon.db.selectFrom('layer_archives').select('layer_id').execute()).length, 2, "app's stay");
  });
});

describe('BOTHUB_STORE: two control-plane daemons on one PostgreSQL and one store, each with its own images directory', () => {
  let s3: TestS3;
  let c: DaemonCluster;
  let host: TestSshHost;
  let a: DaemonProcess, b: DaemonProcess;
  let work: string;
  const imagesOf = (i: number) => join(work, `images-${i}`);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bothub-shared-cluster-'));
    host = await startSshHost();
    ownStore(join(host.dataDir, 'images'));
    // Where the host reaches the store: this machine's end of its veth pair.
    s3 = await startS3('bothub-shared', host.address.replace(/\.2$/, '.1'));
    for (const i of [0, 1]) ownStore(imagesOf(i));
    c = await startDaemonCluster(2, (i) => ({ BOTHUB_IMAGES_DIR: imagesOf(i), ...storeEnv(s3) }));
    [a, b] = c.daemons as [DaemonProcess, DaemonProcess];
    await addHostThrough(a, 'h1', host);
  });
  after(async () => {
    try {
      await c?.stop();
    } finally {
      await Promise.all([host?.cleanup(), s3?.stop()]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('an image imported through A is listed by B (`bothub image list`) without being copied there', async () => {
    const imported = await cli(a.url, ['image', 'import', twoLayerArchive(work), '--name', 'app'], undefined, { BOTHUB_TOKEN: a.token });
    assert.equal(imported.code, 0, imported.stderr);
    const listed = await cli(b.url, ['image', 'list'], undefined, { BOTHUB_TOKEN: b.token });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^app\b/m);
    assert.ok(!existsSync(join(imagesOf(1), 'app')), 'listing copies nothing');
  });

  it('a sandbox on it created through B runs on the fleet host: B made the image whole from the store, then shipped it', async () => {
    const creating = b.api.call('createSandbox', { body: { name: 'onb', image: 'app', command: ['sleep', '100000'] } });
    // Bringing the image (B from the store, then the host from it) can outlast the client's wait on a loaded machine: the record says when it runs.
    await creating.catch((e: Error) => (/UND_ERR_HEADERS_TIMEOUT/.test(e.message) ? undefined : Promise.reject(e)));
    await until('the sandbox to run', () => b.api.call('getSandbox', { params: { name: 'onb' } }).then((s) => (s.status === 'running' ? s : undefined), () => undefined), 600_000);
    const r = await b.api.call('exec', { params: { name: 'onb' }, body: { command: ['sh', '-c', 'cat /opt/tool; ls /srv; test -e /usr/bin/pwd && echo pwd is there || echo pwd is gone'] } });
    assert.equal(r.stdout, 'a tool\nabove\npwd is gone\n', r.stderr);
    const info = JSON.parse(readFileSync(join(imagesOf(1), 'app', 'image.json'), 'utf8')) as ImageT;
    assert.equal(info.layers?.length, 2);
    assertTopLayerWhole(join(imagesOf(1), '.layers', info.layers?.[1] ?? ''));
  });

  it('removed through B, the image is gone for both, its archives freed from the store', async () => {
    await b.api.call('destroySandbox', { params: { name: 'onb' } });
    const bucketBefore = await inBucket(s3);
    const chunks = new Set((await c.query<{ hash: string }>('select hash from layer_chunks')).map((r) => r.hash));
    assert.ok(chunks.size > 0 && [...chunks].every((h) => bucketBefore.has(h)));
    await b.api.call('removeImage', { params: { name: 'app' } });
    for (const d of [a, b]) assert.deepEqual((await d.api.call('listImages')).map((i) => i.name), ['debian'], d.url);
    assert.ok(!existsSync(join(imagesOf(0), 'app')), "A's copy went when A looked");
    assert.deepEqual(await c.query('select name from shared_images where removed_at is null'), []);
    assert.deepEqual(await c.query('select * from layer_archives'), []);
    const left = await inBucket(s3);
    assert.deepEqual([...chunks].filter((h) => left.has(h)), [], 'the archives left the store');
    await until('A to collect the layers of the image removed elsewhere', async () => (layerDirs(imagesOf(0)).length === 0 ? true : undefined), 30_000);
  });
});
