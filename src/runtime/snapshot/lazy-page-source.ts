import { join } from 'node:path';
import type { Host } from '../../hostexec/index.js';
import { ChunkError, type ChunkStore } from './chunk-store.js';
import { ChunkSlots } from './chunk-slots.js';
import { CHUNK_BYTES, materializeTree, type MaterializeOptions } from './chunked-tree.js';
import type { SnapshotFile } from './manifest.js';
import { eagerExtents, PAGE_SIZE, PagemapError, parsePagemap, PE_LAZY, PE_PRESENT, type Pagemap } from './pagemap.js';
import type { LazyPageSource, LazyTaskPages, LentBytes } from './page-server.js';

/** A task's pagemap image, by its pid in the images; shared memory's (pagemap-shmem-*) is restored by CRIU itself. */
const TASK_PAGEMAP = /^pagemap-(\d+)\.img$/;

/** Chunks kept after they were read and checked: branches made together read the same ones at about the same time. */
const CACHED_CHUNKS = 64;
/** As many as are kept when restores of one copy read the same chunks apart in time (chunk-slots.ts): 512 MiB. */
const MOST_CACHED_CHUNKS = 512;
/** Chunks read ahead of the last one asked for: CRIU streams a task's memory in order, up to 4 MiB at a time. */
const READ_AHEAD = 4;

/**
 * Below this much memory to restore lazily, a restore is eager: a small
 * sandbox's cold wake took 350 ms eagerly and 490 ms through the page server
 * (npm run bench -- --lazy), whose processes and handshake cost more than
 * reading a few MiB.
 */
export const LAZY_MIN_BYTES = 64 << 20;

const lazyBytes = (map: Pagemap) => map.ranges.reduce((sum, r) => sum + (r.flags & PE_PRESENT && r.flags & PE_LAZY ? r.nrPages * PAGE_SIZE : 0), 0);

/** Byte ranges of one chunked file, lent from the slots; a damaged or missing chunk becomes the error `damaged` makes. */
function chunkedReader(rel: string, file: SnapshotFile, slots: ChunkSlots, damaged: (problem: string) => Error) {
  const chunks = file.chunks!;
  const sizeOf = (i: number) => (i < chunks.length - 1 ? CHUNK_BYTES : file.size - CHUNK_BYTES * (chunks.length - 1));
  return async (offset: number, length: number): Promise<LentBytes> => {
    if (offset + length > file.size) throw damaged(`${rel} is ${file.size} bytes; ${offset + length} were asked for`);
    const first = Math.floor(offset / CHUNK_BYTES);
    const last = Math.floor((offset + length - 1) / CHUNK_BYTES);
    for (let i = last + 1; i <= last + READ_AHEAD && i < chunks.length; i++) slots.prefetch(chunks[i]!);
    const taking = await Promise.allSettled(chunks.slice(first, last + 1).map((h) => slots.take(h)));
    const taken = taking.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
    const release = () => taken.forEach((t) => slots.release(t));
    const failed = taking.find((t) => t.status === 'rejected');
    const short = taken.findIndex((t, k) => t.bytes.length !== sizeOf(first + k));
    if (failed || short >= 0) {
      release();
      const e: unknown = failed?.reason ?? new ChunkError(taken[short]!.hash, 'damaged');
      throw e instanceof ChunkError ? damaged(`${rel}: ${e.message}`) : e;
    }
    const parts = taken.map((t, k) => {
      const from = k === 0 ? offset - first * CHUNK_BYTES : 0;
      const to = first + k === last ? offset + length - (first + k) * CHUNK_BYTES : t.bytes.length;
      return t.bytes.subarray(from, to);
    });
    return { parts, release };
  };
}

export interface LazyMaterializeOptions extends MaterializeOptions {
  /** The directory of CRIU's images among the files (`criu`). */
  criuDir: string;
}

/**
 * Puts a snapshot's files together under `out` for a lazy restore whose
 * memory a page server (page-server.ts) serves: every file but the tasks'
 * pages images is written whole; those are written sparse, with only the
 * pages CRIU's restore reads itself (the ones not restored lazily: stacks,
 * and mappings userfaultfd cannot take). The rest are read from the chunks
 * when CRIU's lazy-pages asks for them, so a gigabyte of memory is not read
 * and checked before the sandbox runs.
 *
 * Returns undefined (and writes nothing) when the snapshot's pages images
 * are not all in chunks: such a snapshot is put together whole, as for an
 * eager restore, and its lazy restore reads the pages from the images.
 * Returns 'eager' when it wrote every file whole because the lazy pages are
 * few (under LAZY_MIN_BYTES): restoring those eagerly is faster than
 * starting a page server and CRIU's lazy-pages for them.
 */
export async function materializeLazily(
  host: Host,
  files: Record<string, SnapshotFile>,
  dir: string,
  store: ChunkStore,
  out: string,
  opts: LazyMaterializeOptions,
): Promise<LazyPageSource | 'eager' | undefined> {
  const slots = new ChunkSlots(store, CACHED_CHUNKS, MOST_CACHED_CHUNKS);
  const read = (rel: string, f: SnapshotFile) => chunkedReader(rel, f, slots, opts.damaged);
  const tasks = await taskPages(host, files, dir, read, opts);
  if (!tasks) return undefined;
  if (tasks.reduce((sum, t) => sum + lazyBytes(t.map), 0) < LAZY_MIN_BYTES) {
    await materializeTree(host, files, dir, store, out, opts);
    return 'eager';
  }
  const sparse = new Set(tasks.map((t) => t.pagesRel));
  await materializeTree(host, files, dir, store, out, { ...opts, skip: (rel) => sparse.has(rel) });
  const source = new Map<number, LazyTaskPages>();
  await Promise.all(
    tasks.map(async (t) => {
      const reader = read(t.pagesRel, t.pages);
      await writeEagerPages(host, join(out, t.pagesRel), t.pages, eagerExtents(t.map), reader, opts.signal);
      source.set(t.pid, { ranges: t.map.ranges, read: reader });
    }),
  );
  return source;
}

type Reader = (rel: string, f: SnapshotFile) => (offset: number, length: number) => Promise<LentBytes>;

/** Each task's pagemap, read and parsed, with its pages image; undefined when a pages image is not in chunks. */
async function taskPages(host: Host, files: Record<string, SnapshotFile>, dir: string, read: Reader, opts: LazyMaterializeOptions) {
  const tasks = Object.entries(files).flatMap(([rel, f]) => {
    const m = rel.startsWith(`${opts.criuDir}/`) ? TASK_PAGEMAP.exec(rel.slice(opts.criuDir.length + 1)) : null;
    return m ? [{ rel, f, pid: Number(m[1]) }] : [];
  });
  /** A pagemap image whole, its bytes copied out of the slots. */
  const image = async (rel: string, f: SnapshotFile): Promise<Buffer> => {
    if (!f.chunks) return host.readFile(join(dir, rel));
    if (!f.size) return Buffer.alloc(0);
    const lent = await read(rel, f)(0, f.size);
    const bytes = Buffer.concat(lent.parts);
    lent.release();
    return bytes;
  };
  const parsed = await Promise.all(
    tasks.map(async ({ rel, f, pid }) => {
      let map: Pagemap;
      try {
        map = parsePagemap(await image(rel, f));
      } catch (e) {
        throw e instanceof PagemapError ? opts.damaged(`${rel}: ${e.message}`) : e;
      }
      const pagesRel = `${opts.criuDir}/pages-${map.pagesId}.img`;
      return { pid, map, pagesRel, pages: files[pagesRel] };
    }),
  );
  return parsed.every((t) => t.pages?.chunks) ? parsed.map((t) => ({ ...t, pages: t.pages! })) : undefined;
}

/** A task's pages image at full size, with only the pages its restore reads itself written; the lazy ones a hole. */
async function writeEagerPages(
  host: Host,
  dst: string,
  pages: SnapshotFile,
  extents: { offset: number; length: number }[],
  reader: (offset: number, length: number) => Promise<LentBytes>,
  signal?: AbortSignal,
): Promise<void> {
  const fh = await host.open(dst, 'w', 0o600);
  try {
    if (pages.mode !== undefined) await fh.chmod(pages.mode);
    for (const { offset, length } of extents) {
      // A chunk's worth at a time: an extent may be large, and the slots are few.
      for (let at = offset; at < offset + length; ) {
        signal?.throwIfAborted();
        const lent = await reader(at, Math.min(CHUNK_BYTES, offset + length - at));
        try {
          for (const part of lent.parts) {
            await fh.write(part, 0, part.length, at);
            at += part.length;
          }
        } finally {
          lent.release();
        }
      }
    }
  } finally {
    await fh.close();
  }
  // CRIU's restore opens it at its full size and reads only the eager pages.
  await host.truncate(dst, pages.size);
}
