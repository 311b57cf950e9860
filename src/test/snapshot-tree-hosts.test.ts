import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost, type Host, type HostFiles } from '../hostexec/index.js';
import { checksumTree, CHUNK_BYTES, LocalChunkStore, materializeTree, MANIFEST, storeTree, verifyTree, type SnapshotManifest } from '../runtime/index.js';
import { sha256File } from '../runtime/snapshot/manifest.js';
import { onEachHost } from './helpers/each-host.js';

const noPins = { pin: () => undefined };
const damaged = (problem: string) => new Error(`snapshot "s" is damaged (${problem})`);
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** `host`, whose file handles answer every read with at most `most` bytes (as an SFTP server may). */
function shortReads(host: Host, most: number): HostFiles {
  const files: HostFiles = Object.create(host) as HostFiles;
  files.open = async (path, flags, mode) => {
    const fh = await host.open(path, flags, mode);
    return { ...fh, read: (buffer, offset, length, position) => fh.read(buffer, offset, Math.min(length, most), position) };
  };
  return files;
}

/** A snapshot's trees stored, put together and checked through each Host: the runtime cannot tell this machine from a fleet host. */
function trees(label: string, open: () => Promise<Host>, close: () => Promise<void>) {
  describe(`${label}: snapshot trees`, () => {
    let host: Host;
    let root: string;
    let store: LocalChunkStore;
    before(async () => {
      host = await open();
      root = mkdtempSync(join(tmpdir(), 'bothub-trees-')); // the SSH test host shares this machine's files
      store = new LocalChunkStore(join(root, 'store'), new LocalHost());
      await store.init();
    });
    after(async () => {
      rmSync(root, { recursive: true, force: true });
      await close();
    });

    it('stores a tree as chunks and puts it back byte for byte, with each file mode', async () => {
      const dir = join(root, 'tree');
      mkdirSync(join(dir, 'criu'), { recursive: true });
      const pages = randomBytes(2 * CHUNK_BYTES + 12345);
      writeFileSync(join(dir, 'criu', 'pages-1.img'), pages);
      chmodSync(join(dir, 'criu', 'pages-1.img'), 0o640);
      writeFileSync(join(dir, 'criu', 'whole.img'), randomBytes(CHUNK_BYTES)); // exactly one chunk: the end is found without a second one
      writeFileSync(join(dir, 'criu', 'empty.img'), '');
      const files = await storeTree(host, dir, store, noPins);
      assert.equal(files['criu/pages-1.img']!.chunks!.length, 3);
      assert.equal(files['criu/pages-1.img']!.sha256, hex(pages));
      assert.equal(files['criu/pages-1.img']!.mode, 0o640);
      assert.equal(files['criu/whole.img']!.chunks!.length, 1);
      assert.deepEqual(files['criu/empty.img']!.chunks, []);

      // A whole file (kept in the snapshot's directory) beside the chunked ones.
      writeFileSync(join(dir, 'spec.json'), '{}');
      const out = join(root, 'out');
      await materializeTree(host, { ...files, 'spec.json': { size: 2, sha256: hex(Buffer.from('{}')) } }, dir, store, out, { damaged });
      assert.deepEqual(readFileSync(join(out, 'criu', 'pages-1.img')), pages);
      assert.equal(statSync(join(out, 'criu', 'pages-1.img')).mode & 0o7777, 0o640);
      assert.deepEqual(readFileSync(join(out, 'criu', 'whole.img')), readFileSync(join(dir, 'criu', 'whole.img')));
      assert.equal(readFileSync(join(out, 'criu', 'empty.img')).length, 0);
      assert.equal(readFileSync(join(out, 'spec.json'), 'utf8'), '{}');
    });

    it('cuts the same chunks when reads come back short', async () => {
      const dir = join(root, 'short');
      mkdirSync(dir);
      writeFileSync(join(dir, 'f'), randomBytes(3 * CHUNK_BYTES + 7));
      assert.deepEqual(await storeTree(shortReads(host, 100_000), dir, store, noPins), await storeTree(host, dir, store, noPins));
    });

    it('checksums a tree, and refuses one with a file changed, missing or extra', async () => {
      const dir = join(root, 'sums');
      mkdirSync(join(dir, 'criu'), { recursive: true });
      const big = randomBytes(5 * CHUNK_BYTES + 3); // past the size read whole: streamed
      writeFileSync(join(dir, 'criu', 'big.img'), big);
      for (let i = 0; i < 20; i++) writeFileSync(join(dir, 'criu', `small-${i}.img`), randomBytes(100 + i));
      writeFileSync(join(dir, MANIFEST), '{}');
      const files = await checksumTree(host, dir);
      assert.equal(Object.keys(files).length, 21, 'the manifest itself is not in it');
      assert.deepEqual(files['criu/big.img'], { size: big.length, sha256: hex(big) });
      assert.equal(files['criu/small-3.img']!.sha256, hex(readFileSync(join(dir, 'criu', 'small-3.img'))));
      assert.equal(await sha256File(host, join(dir, 'criu', 'big.img')), hex(big));

      const manifest = { name: 's', files } as unknown as SnapshotManifest;
      await verifyTree(host, dir, manifest);
      writeFileSync(join(dir, 'criu', 'small-0.img'), 'changed');
      rmSync(join(dir, 'criu', 'small-1.img'));
      writeFileSync(join(dir, 'criu', 'extra.img'), 'x');
      await assert.rejects(verifyTree(host, dir, manifest), (e: Error) => {
        // In the order the directory lists them: any.
        for (const problem of ['criu/small-0.img does not match its checksum', 'criu/small-1.img is missing', 'criu/extra.img is not in the manifest']) assert.ok(e.message.includes(problem), e.message);
        return /^snapshot "s" is damaged/.test(e.message);
      });
      await assert.rejects(checksumTree(host, dir, AbortSignal.abort()), { name: 'AbortError' });
    });
  });
}

onEachHost(trees);
