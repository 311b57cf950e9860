import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import type { HostFileHandle, HostFiles } from '../../hostexec/index.js';
import { ChunkError, sha256, type ChunkStore } from './chunk-store.js';
import { walk, type SnapshotFile } from './manifest.js';

/**
 * Files cut into fixed 1 MiB chunks. CRIU's page images keep a mapping's pages
 * in the same place from one dump to the next, so an unchanged GiB of memory
 * gives the same chunks again and only what changed is new. (Content-defined
 * cut points would also survive shifts, at a hashing cost per byte that a
 * memory-speed snapshot cannot pay in JavaScript.)
 */
export const CHUNK_BYTES = 1 << 20;

/** How many chunk writes or reads are in flight at once, per file: enough to overlap hashing with the disk. */
const WINDOW = 4;

/**
 * How many files are stored or written at once. CRIU's images are dozens of
 * small files; one at a time, each paid a few thread-pool round trips in
 * turn (about 5 ms a file here), which was most of a small sandbox's restore.
 * Each file holds up to WINDOW + 1 chunks at once: about 40 MiB in all.
 */
const FILES_AT_ONCE = 8;

/** Chunk lookups (a stat, or an object store's HEAD) in flight at once when checking that a file's chunks are all there. */
const LOOKUPS_AT_ONCE = 32;

export interface StoreTreeOptions {
  signal?: AbortSignal;
  /** Called before a chunk is looked up, so a collection running meanwhile keeps it (see ChunkPins). */
  pin: (hash: string) => Promise<void> | void;
  /** Files kept whole in the snapshot directory rather than chunked. */
  skip?: (rel: string) => boolean;
  onBytes?: (done: number) => void;
}

/** Marks a promise as handled now (it is awaited later): a rejection meanwhile must not count as unhandled. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Runs `fn` on `items`, `limit` at a time; the first failure starts no more, and is thrown once those started have settled. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((error: unknown) => void (failure ??= { error }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/**
 * Fills `buf` from `position` on, and says how much it filled: less only at
 * the end of the file. A read may return less than asked (an SFTP server's
 * short answer), and every chunk but the last must be whole (chunkSizes).
 */
async function readFull(fh: HostFileHandle, buf: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const n = await fh.read(buf, filled, buf.length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/** Puts every file under `dir` on `host` into the store as chunks it lacks; returns each file's size, sha256 and chunk list (in the order walked). */
export async function storeTree(host: HostFiles, dir: string, store: ChunkStore, opts: StoreTreeOptions): Promise<Record<string, SnapshotFile>> {
  const paths: string[] = [];
  for await (const path of walk(host, dir)) if (!opts.skip?.(relative(dir, path))) paths.push(path);
  const stored = new Map<string, SnapshotFile>();
  let done = 0;
  const add = (bytes: number) => {
    done += bytes;
    opts.onBytes?.(done);
  };
  await eachLimited(paths, FILES_AT_ONCE, async (path) => void stored.set(path, await storeFile(host, path, store, opts, add)));
  return Object.fromEntries(paths.map((path) => [relative(dir, path), stored.get(path)!]));
}

async function storeFile(host: HostFiles, path: string, store: ChunkStore, opts: StoreTreeOptions, add: (bytes: number) => void): Promise<SnapshotFile> {
  const whole = createHash('sha256');
  const chunks: string[] = [];
  const inFlight: Promise<void>[] = [];
  const fh = await host.open(path, 'r');
  let mode: number;
  let size = 0;
  try {
    mode = (await fh.stat()).mode;
    for (;;) {
      opts.signal?.throwIfAborted();
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      const bytesRead = await readFull(fh, buf, size);
      if (!bytesRead) break;
      const bytes = buf.subarray(0, bytesRead);
      size += bytesRead;
      whole.update(bytes);
      const hash = sha256(bytes);
      chunks.push(hash);
      await opts.pin(hash);
      inFlight.push(handled(store.has(hash, bytesRead).then((there) => (there ? undefined : store.put(hash, bytes)))));
      if (inFlight.length >= WINDOW) await inFlight.shift();
      add(bytesRead);
      // A short chunk is the last: no read just to find the end.
      if (bytesRead < CHUNK_BYTES) break;
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.allSettled(inFlight);
    await fh.close();
  }
  return { size, sha256: whole.digest('hex'), chunks, mode };
}

/** A chunked file's chunks with their sizes (every one full but the last). */
export function chunkSizes(file: SnapshotFile): [hash: string, size: number][] {
  const chunks = file.chunks ?? [];
  return chunks.map((hash, i) => [hash, i < chunks.length - 1 ? CHUNK_BYTES : file.size - CHUNK_BYTES * (chunks.length - 1)]);
}

/** What is wrong with a chunked file's chunks in the store (presence and size only), if anything. */
export async function missingChunk(store: ChunkStore, file: SnapshotFile): Promise<string | undefined> {
  let missing: string | undefined;
  // Many at once: one after the other, a gigabyte's 1,024 lookups were 40 to 130 ms of every restore.
  await eachLimited(chunkSizes(file), LOOKUPS_AT_ONCE, async ([hash, size]) => {
    if (!missing && !(await store.has(hash, size))) missing ??= new ChunkError(hash, 'missing').message;
  });
  return missing;
}

export interface MaterializeOptions {
  signal?: AbortSignal;
  /** Turns a damaged or missing chunk into the error a user sees (it names the snapshot). */
  damaged: (problem: string) => Error;
  /** Files not written (a lazy restore's pages images, written sparse by lazy-page-source.ts). */
  skip?: (rel: string) => boolean;
}

/**
 * Writes the files of a manifest under `out` on `host`: chunked ones from the
 * store, each chunk checked against its hash as it is read, whole ones copied
 * from `dir` (on the same host). Nothing outside `out` is touched, so a
 * failure leaves the sandbox as it was.
 */
export async function materializeTree(host: HostFiles, files: Record<string, SnapshotFile>, dir: string, store: ChunkStore, out: string, opts: MaterializeOptions): Promise<void> {
  const dirs = new Map<string, Promise<unknown>>();
  const made = (d: string) => dirs.get(d) ?? dirs.set(d, host.mkdir(d, { recursive: true })).get(d)!;
  const wanted = Object.entries(files).filter(([rel]) => !opts.skip?.(rel));
  await eachLimited(wanted, FILES_AT_ONCE, async ([rel, f]) => {
    opts.signal?.throwIfAborted();
    const dst = join(out, rel);
    await made(dirname(dst));
    if (!f.chunks) return host.copyFile(join(dir, rel), dst);
    const fh = await host.open(dst, 'w', 0o600);
    try {
      // Set apart from open(), which the umask would trim.
      if (f.mode !== undefined) await fh.chmod(f.mode);
      const reads: Promise<Buffer>[] = [];
      const chunks = f.chunks;
      let next = 0;
      const more = () => {
        while (next < chunks.length && reads.length < WINDOW) reads.push(handled(store.get(chunks[next++]!)));
      };
      more();
      let written = 0;
      while (reads.length) {
        opts.signal?.throwIfAborted();
        const bytes = await reads.shift()!;
        more();
        await fh.write(bytes, 0, bytes.length, written);
        written += bytes.length;
      }
      if (written !== f.size) throw opts.damaged(`${rel} is ${written} bytes, not the ${f.size} its manifest says`);
    } catch (e) {
      if (e instanceof ChunkError) throw opts.damaged(`${rel}: ${e.message}`);
      throw e;
    } finally {
      await fh.close();
    }
  });
}
