import type { Duplex } from 'node:stream';
import { locatePages, PAGE_SIZE, PE_PRESENT, type PagemapRange } from './pagemap.js';

/**
 * The serving half of CRIU's page-server protocol (criu/page-xfer.c), as a
 * lazy restore's `criu lazy-pages --page-server` speaks it: it asks for
 * pages (PS_IOV_GET: how many, at which address, of which task), and each
 * answer is the request's header with PS_IOV_ADD_F, then the pages' bytes.
 * Answers go back in the order asked; fewer pages than asked is allowed. At
 * the end it sends PS_IOV_CLOSE (or FORCE_CLOSE) and waits for a 32-bit 0.
 *
 * This is what lets a lazy restore start before its memory is read: the
 * pages come from the snapshot's chunks as the sandbox touches them, not
 * from a pages image put together first.
 */

/** struct page_server_iov: u32 cmd, 4 bytes of padding, u64 nr_pages, u64 vaddr, u64 dst_id. */
const IOV_BYTES = 32;
const PS_IOV_ADD_F = 6;
const PS_IOV_GET = 7;
const PS_IOV_CLOSE = 0x1023;
const PS_IOV_FORCE_CLOSE = 0x1024;
const PS_CMD_BITS = 16;

/** Bytes lent by their reader (views of its buffers), in order: given back with `release` once written. */
export interface LentBytes {
  parts: Buffer[];
  release(): void;
}

/** One restored task's pages: where they are in its pages image, and how to read that image. */
export interface LazyTaskPages {
  /** The task's pagemap ranges, in address order (pagemap.ts). */
  ranges: readonly PagemapRange[];
  /** `length` bytes of the task's pages image from `offset`, checked against the snapshot. */
  read(offset: number, length: number): Promise<LentBytes>;
}

/** Every lazily restored task's pages, by its pid in the images (CRIU's dst_id). */
export type LazyPageSource = ReadonlyMap<number, LazyTaskPages>;

/** A request the page server cannot answer: CRIU asked for something the snapshot does not have. */
export class PageServerError extends Error {}

/** Reads exactly `n` bytes at a time from a stream, as CRIU's side writes them. */
class Frames {
  private buffered: Buffer[] = [];
  private size = 0;
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(socket: Duplex) {
    this.chunks = (socket as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** The next `n` bytes, or undefined at a clean end of the stream. */
  async take(n: number): Promise<Buffer | undefined> {
    while (this.size < n) {
      const next = await this.chunks.next();
      if (next.done) {
        if (this.size) throw new PageServerError(`the lazy-pages daemon hung up in the middle of a request (${this.size} of ${n} bytes)`);
        return undefined;
      }
      this.buffered.push(next.value);
      this.size += next.value.length;
    }
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.size);
    this.buffered = all.length > n ? [all.subarray(n)] : [];
    this.size -= n;
    return all.subarray(0, n);
  }
}

/** Writes the buffers as one (a writev), resolving once the socket has taken the last: until then they must not change. */
function write(socket: Duplex, parts: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.cork();
    parts.forEach((p, i) => socket.write(p, i === parts.length - 1 ? (err) => (err ? reject(err) : resolve()) : undefined));
    socket.uncork();
  });
}

/**
 * Answers one lazy-pages daemon on `socket` until it says it is done
 * (resolves) or something goes wrong (rejects, the socket destroyed: CRIU
 * sees its source gone, and whoever guards the sandbox ends it).
 */
export async function servePages(socket: Duplex, tasks: LazyPageSource): Promise<void> {
  const frames = new Frames(socket);
  try {
    for (;;) {
      const iov = await frames.take(IOV_BYTES);
      if (!iov) throw new PageServerError('the lazy-pages daemon hung up before it said it was done');
      const cmd = iov.readUInt32LE(0) & ((1 << PS_CMD_BITS) - 1);
      if (cmd === PS_IOV_CLOSE || cmd === PS_IOV_FORCE_CLOSE) {
        await write(socket, [Buffer.alloc(4)]);
        socket.end();
        return;
      }
      if (cmd !== PS_IOV_GET) throw new PageServerError(`the lazy-pages daemon sent command ${cmd}, which a page server for restores does not take`);
      const nrPages = Number(iov.readBigUInt64LE(8));
      const vaddr = Number(iov.readBigUInt64LE(16));
      const pid = Number(iov.readBigUInt64LE(24));
      const task = tasks.get(pid);
      const at = task && locatePages(task.ranges, vaddr, nrPages);
      if (!task || !at || !at.nrPages)
        throw new PageServerError(`the lazy-pages daemon asked for ${nrPages} pages at 0x${vaddr.toString(16)} of task ${pid}, which the snapshot does not hold`);
      const pages = await task.read(at.offset, at.nrPages * PAGE_SIZE);
      const answer = Buffer.allocUnsafe(IOV_BYTES);
      iov.copy(answer);
      answer.writeUInt32LE(((PE_PRESENT << PS_CMD_BITS) | PS_IOV_ADD_F) >>> 0, 0);
      answer.writeBigUInt64LE(BigInt(at.nrPages), 8);
      try {
        await write(socket, [answer, ...pages.parts]);
      } finally {
        pages.release();
      }
    }
  } catch (e) {
    socket.destroy();
    throw e;
  }
}
