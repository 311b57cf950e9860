import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ChunkCache } from '../daemon/services/chunk-cache.js';
import { readColdManifest } from '../daemon/services/cold-images.js';
import { chunkSizes } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { memoryIntact, startMemoryHolder } from './helpers/memory-holder.js';
import { sh, snapshot, until } from './helpers/sandbox.js';

const MiB = 1 << 20;


describe('cold images in the snapshot store', () => {
  let t: TestDaemon;
  let id: string;
  const chunksDir = () => join(t.daemon.ctx.snapshots.dir, '.chunks');
  /** Bytes of every chunk on disk. */
  const storeBytes = () => {
    let n = 0;
    for (const d of readdirSync(chunksDir()).filter((e) => /^[0-9a-f]{2}$/.test(e))) for (const f of readdirSync(join(chunksDir(), d))) n += statSync(join(chunksDir(), d, f)).size;
    return n;
  };
  const coldDir = () => t.daemon.ctx.thermal.coldDir(id);
  const thermal = async (name: string) => (await t.api.call('getSandbox', { params: { name } })).thermal;
  const coldRefs = async (sandboxId: string) => (await t.daemon.db.selectFrom('cold_chunks').select('hash').where('sandbox_id', '=', sandboxId).execute()).length;

  before(async () => {
    t = await startTestDaemon();
    id = (await t.api.call('createSandbox', { body: { name: 'sleeper', memoryMb: 512 } })).id;
    await startMemoryHolder(t, 'sleeper');
  });
  after(async () => {
    await t.cleanup();
  });

  it('a cold image right after a snapshot adds almost nothing, survives a restart, wakes with its memory; its chunks go to the cache, which keeps to its bound', async () => {
    await snapshot(t, 'sleeper', 's1', true);
    await until('s1 ready', async () => ((await t.api.call('listSnapshots', { query: {} })).find((s) => s.name === 's1')?.status === 'ready' ? true : undefined), 600_000);
    const before = storeBytes();
    assert.ok(before >= 24 * MiB, `the snapshot put ${before} bytes in the store`);
    await t.api.call('freezeSandbox', { params: { name: 'sleeper' } });
    assert.equal(await thermal('sleeper'), 'cold');
    // Only the chunk list is left in the cold directory: the files are chunks of the store.
    assert.deepEqual(readdirSync(coldDir()), ['cold.json']);
    const manifest = (await readColdManifest(coldDir()))!;
    assert.ok(manifest.sizeBytes >= 24 * MiB, `the image is ${manifest.sizeBytes} bytes`);
    const added = storeBytes() - before;
    process.stderr.write(`# cold image of ${(manifest.sizeBytes / MiB).toFixed(1)} MiB right after a snapshot added ${(added / MiB).toFixed(2)} MiB to the store\n`);
    assert.ok(added < 6 * MiB, `the cold image added ${(added / MiB).toFixed(1)} MiB`);
    assert.ok((await coldRefs(id)) > 24, 'its chunks are referenced');
    const image = await t.daemon.db.selectFrom('cold_images').selectAll().where('sandbox_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(image.size_bytes, manifest.sizeBytes);

    // The snapshot goes: the chunks the cold image shares with it stay.
    await t.api.call('deleteSnapshot', { params: { name: 's1' } });
    // Every chunk it names is still there (an image holds some chunks more than once, zero pages for one: counted once on disk).
    const named = new Map(Object.values(manifest.files).flatMap(chunkSizes));
    for (const [hash, size] of named) assert.ok(await t.daemon.ctx.snapshots.chunks.store.has(hash, size), `the cold image keeps its chunk ${hash}`);
    const namedBytes = [...named.values()].reduce((a, b) => a + b, 0);
    assert.ok(storeBytes() >= namedBytes, `the store holds ${storeBytes()} bytes, the cold image's chunks ${namedBytes}`);

    // A start finds it cold and complete, references kept.
    await t.restart();
    assert.equal(await thermal('sleeper'), 'cold');
    assert.ok((await coldRefs(id)) > 24);
    await memoryIntact(t, 'sleeper'); // an exec wakes it first
    assert.equal(await thermal('sleeper'), 'hot');
    assert.equal(await coldRefs(id), 0, 'a woken image is referenced no more');
    assert.deepEqual(readdirSync(join(coldDir(), '..')).includes(id), false);
    // ... but its chunks stay, as the cache (a move back would find them).
    const cached = await t.daemon.db.selectFrom('chunk_cache').select('hash').execute();
    assert.ok(cached.length > 24, `${cached.length} chunks cached`);
    assert.ok(storeBytes() >= 24 * MiB);
    // With a bound of nothing, the cache lets go and the collector empties the store.
    const evicted = await new ChunkCache(t.daemon.db, t.daemon.ctx.snapshots.chunks, 0, pino({ level: 'silent' })).trim();
    assert.equal(evicted, cached.length);
    assert.equal(storeBytes(), 0, 'nothing holds a chunk: none is left');
  });

  it('a damaged chunk of a cold image fails the wake with one line naming the sandbox; it stays cold, and wakes once the chunk is whole again', async () => {
    await t.api.call('freezeSandbox', { params: { name: 'sleeper' } });
    const manifest = (await readColdManifest(coldDir()))!;
    const [rel, file] = Object.entries(manifest.files).sort((a, b) => b[1].size - a[1].size)[0]!;
    const hash = file.chunks![1]!;
    const path = join(chunksDir(), hash.slice(0, 2), hash);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[4096] = bad[4096]! ^ 0xff;
    writeFileSync(path, bad);
    const failed = await t.api.call('exec', { params: { name: 'sleeper' }, body: { command: ['true'] } }).catch((e: Error) => e);
    assert.ok(failed instanceof Error);
    assert.equal(
      failed.message,
      `waking sandbox "sleeper" failed: the cold image of sandbox "sleeper" is damaged (${rel}: chunk ${hash.slice(0, 12)}… does not match its checksum); it stays cold — try again, or stop and start it`,
    );
    assert.equal(await thermal('sleeper'), 'cold');
    writeFileSync(path, good);
    await memoryIntact(t, 'sleeper');
  });

  it('sealed: a sandbox holding secrets is snapshotted and frozen encrypted and whole, adding no chunk to the store (sealed state is not deduplicated)', async () => {
    await t.api.call('setSecret', { params: { name: 'TOKEN' }, body: { value: 'not-for-the-disk-0123456789' } });
    const sealed = await t.api.call('createSandbox', { body: { name: 'sealed', secrets: ['TOKEN'] } });
    await sh(t, 'sealed', 'nohup sh -c "while :; do sleep 1; done" >/dev/null 2>&1 &');
    const before = storeBytes();
    const refs = await t.daemon.db.selectFrom('snapshot_chunks').select('hash').execute();
    const one = await snapshot(t, 'sealed', 'sealed-1', true);
    const two = await snapshot(t, 'sealed', 'sealed-2', true);
    assert.equal(one.encrypted, true);
    // Back to back, the same pages: every file's ciphertext still differs (a key per snapshot, a fresh IV per file).
    const layer = (s: typeof one) => readFileSync(join(t.daemon.ctx.snapshots.dir, s.id, 'fs', 'upper.tar'));
    assert.equal(layer(one).length, layer(two).length);
    assert.equal(layer(one).equals(layer(two)), false);
    await t.api.call('freezeSandbox', { params: { name: 'sealed' } });
    const cold = t.daemon.ctx.thermal.coldDir(sealed.id);
    assert.ok(readdirSync(cold).includes('sealed'), 'the cold image is encrypted');
    assert.equal(readdirSync(cold).includes('cold.json'), false, 'and kept whole');
    assert.equal(storeBytes(), before, 'neither added a chunk');
    assert.deepEqual(await t.daemon.db.selectFrom('snapshot_chunks').select('hash').execute(), refs);
    assert.equal(await coldRefs(sealed.id), 0);
    assert.equal(await sh(t, 'sealed', 'printf %s "$TOKEN"'), 'not-for-the-disk-0123456789');
    for (const s of ['sealed-1', 'sealed-2']) await t.api.call('deleteSnapshot', { params: { name: s } });
    await t.api.call('destroySandbox', { params: { name: 'sealed' } });
    await t.api.call('destroySandbox', { params: { name: 'sleeper' } });
  });
});
