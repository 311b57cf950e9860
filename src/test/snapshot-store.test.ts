import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../hostexec/index.js';
import { CHUNK_BYTES, LocalChunkStore, materializeTree, missingChunk, storeTree, type ChunkStore } from '../runtime/index.js';

const MiB = 1 << 20;

async function storedBytes(store: ChunkStore): Promise<number> {
  let n = 0;
  for await (const c of store.list()) n += c.size;
  return n;
}

const damaged = (problem: string) => new Error(`snapshot "s" is damaged (${problem})`);
const noPins = { pin: () => undefined };
const host = new LocalHost();

describe('the chunk store and chunked trees', () => {
  let root: string;
  let store: LocalChunkStore;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'bothub-chunks-'));
    store = new LocalChunkStore(join(root, 'store'), host);
    await store.init();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('stores a tree as chunks, puts it back byte for byte, and a second tree with 10 MiB changed adds about 10 MiB', async () => {
    const a = join(root, 'a');
    mkdirSync(join(a, 'criu'), { recursive: true });
    const pages = randomBytes(64 * MiB + 123);
    writeFileSync(join(a, 'criu', 'pages-1.img'), pages);
    writeFileSync(join(a, 'criu', 'empty.img'), '');
    const first = await storeTree(host, a, store, noPins);
    await store.flush();
    assert.equal(first['criu/pages-1.img']!.chunks!.length, 65);
    assert.deepEqual(first['criu/empty.img']!.chunks, []);
    const afterFirst = await storedBytes(store);
    assert.equal(afterFirst, pages.length);

    // 10 MiB rewritten in the middle, and 10 MiB more at the end.
    randomBytes(10 * MiB).copy(pages, 20 * MiB);
    writeFileSync(join(a, 'criu', 'pages-1.img'), Buffer.concat([pages, randomBytes(10 * MiB)]));
    const second = await storeTree(host, a, store, noPins);
    const added = (await storedBytes(store)) - afterFirst;
    assert.ok(added >= 20 * MiB && added <= 22 * MiB, `the second tree added ${added} bytes`);

    const out = join(root, 'out');
    await materializeTree(host, second, a, store, out, { damaged });
    assert.ok(readFileSync(join(out, 'criu', 'pages-1.img')).equals(readFileSync(join(a, 'criu', 'pages-1.img'))));
    assert.equal(readFileSync(join(out, 'criu', 'empty.img')).length, 0);
  });

  it('refuses a damaged or missing chunk with one line naming the file', async () => {
    const dir = join(root, 'd');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'layer.tar'), randomBytes(3 * MiB));
    const files = await storeTree(host, dir, store, noPins);
    const [, second] = files['layer.tar']!.chunks!;
    const path = join(store.root, second!.slice(0, 2), second!);
    const bytes = readFileSync(path);
    bytes[100] = bytes[100]! ^ 1;
    writeFileSync(path, bytes);
    await assert.rejects(materializeTree(host, files, dir, store, join(root, 'bad'), { damaged }), /^Error: snapshot "s" is damaged \(layer\.tar: chunk [0-9a-f]{12}… does not match its checksum\)$/);
    rmSync(path);
    assert.match(String(await missingChunk(store, files['layer.tar']!)), /is missing/);
    await assert.rejects(materializeTree(host, files, dir, store, join(root, 'bad2'), { damaged }), /layer\.tar: chunk [0-9a-f]{12}… is missing/);
  });

  it('a torn chunk (wrong size) does not count as present, so the next snapshot writes it again', async () => {
    const dir = join(root, 't');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), randomBytes(CHUNK_BYTES));
    const files = await storeTree(host, dir, store, noPins);
    const hash = files.f!.chunks![0]!;
    writeFileSync(join(store.root, hash.slice(0, 2), hash), Buffer.alloc(10));
    assert.equal(await store.has(hash, CHUNK_BYTES), false);
    await storeTree(host, dir, store, noPins);
    assert.equal((await store.get(hash)).length, CHUNK_BYTES);
  });
});
