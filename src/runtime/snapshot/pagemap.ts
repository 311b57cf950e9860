/**
 * CRIU's pagemap images (`pagemap-<pid>.img`), read without CRIU: which
 * ranges of a task's memory are in which bytes of its `pages-<id>.img`, and
 * which of them a lazy restore leaves to the page server. Pure: bytes in,
 * ranges out.
 *
 * The format (criu/image.c, images/pagemap.proto): two little-endian u32
 * magics, then entries, each a u32 length and a protobuf message. The first
 * is a `pagemap_head` (the pages image's id), every other a `pagemap_entry`.
 * A present entry's pages follow the previous present entry's in the pages
 * image, so an entry's offset is the sum of the present pages before it.
 */

export const PAGE_SIZE = 4096;

const IMG_COMMON_MAGIC = 0x54564319;
const PAGEMAP_MAGIC = 0x56084025;

/** criu/include/pagemap.h */
export const PE_PARENT = 1 << 0;
export const PE_LAZY = 1 << 1;
export const PE_PRESENT = 1 << 2;

export interface PagemapRange {
  vaddr: number;
  nrPages: number;
  flags: number;
  /** Where its pages start in the pages image (meaningful when PE_PRESENT). */
  offset: number;
}

export interface Pagemap {
  /** The `<id>` of the `pages-<id>.img` the present ranges are in. */
  pagesId: number;
  ranges: PagemapRange[];
}

/** What is wrong with an image that is not a pagemap CRIU wrote. */
export class PagemapError extends Error {}

/** One protobuf message's varint and length-delimited fields (the only wire types these messages use). */
function fields(msg: Buffer): Map<number, number> {
  const out = new Map<number, number>();
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= msg.length) throw new PagemapError('a varint runs past its message');
      const b = msg[at++]!;
      value += (b & 0x7f) * scale;
      if (!(b & 0x80)) break;
      scale *= 128;
      if (scale > 2 ** 63) throw new PagemapError('a varint is longer than 64 bits');
    }
    if (!Number.isSafeInteger(value)) throw new PagemapError('a field is larger than this reader handles');
    return value;
  };
  while (at < msg.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) out.set(Math.floor(key / 8), varint());
    else if (wire === 2) at += varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new PagemapError(`wire type ${wire} is not one a pagemap uses`);
  }
  return out;
}

export function parsePagemap(image: Buffer): Pagemap {
  if (image.length < 8 || image.readUInt32LE(0) !== IMG_COMMON_MAGIC || image.readUInt32LE(4) !== PAGEMAP_MAGIC)
    throw new PagemapError('not a CRIU pagemap image (its magic numbers differ)');
  const messages: Buffer[] = [];
  for (let at = 8; at < image.length; ) {
    if (at + 4 > image.length) throw new PagemapError('the image ends inside an entry’s length');
    const len = image.readUInt32LE(at);
    if (at + 4 + len > image.length) throw new PagemapError('the image ends inside an entry');
    messages.push(image.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  const head = messages.shift();
  if (!head) throw new PagemapError('the image has no head');
  const pagesId = fields(head).get(1);
  if (pagesId === undefined) throw new PagemapError('the head names no pages image');
  const ranges: PagemapRange[] = [];
  let offset = 0;
  for (const m of messages) {
    const f = fields(m);
    const vaddr = f.get(1);
    // nr_pages (5) replaced compat_nr_pages (2), which older CRIUs alone write.
    const nrPages = f.get(5) ?? f.get(2);
    if (vaddr === undefined || nrPages === undefined) throw new PagemapError('an entry lacks its address or length');
    // As criu/pagemap.c reads an entry without flags: in the parent, or present here.
    const flags = f.get(4) ?? (f.get(3) ? PE_PARENT : PE_PRESENT);
    ranges.push({ vaddr, nrPages, flags, offset });
    if (flags & PE_PRESENT) offset += nrPages * PAGE_SIZE;
  }
  return { pagesId, ranges };
}

/** The byte ranges of the pages image a restore reads itself: present pages that are not lazy. */
export function eagerExtents(map: Pagemap): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  for (const r of map.ranges) {
    if (!(r.flags & PE_PRESENT) || r.flags & PE_LAZY) continue;
    const length = r.nrPages * PAGE_SIZE;
    const last = out.at(-1);
    if (last && last.offset + last.length === r.offset) last.length += length;
    else out.push({ offset: r.offset, length });
  }
  return out;
}

/**
 * Where `nrPages` pages at `vaddr` are in the pages image: as many of them
 * as one present range holds from `vaddr` on (fewer than asked is allowed by
 * CRIU's protocol), or undefined when no present range holds `vaddr`.
 * `ranges` are in address order, as CRIU writes them.
 */
export function locatePages(ranges: readonly PagemapRange[], vaddr: number, nrPages: number): { offset: number; nrPages: number } | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (vaddr < r.vaddr) hi = mid - 1;
    else if (vaddr >= r.vaddr + r.nrPages * PAGE_SIZE) lo = mid + 1;
    else {
      if (!(r.flags & PE_PRESENT) || (vaddr - r.vaddr) % PAGE_SIZE) return undefined;
      const skip = (vaddr - r.vaddr) / PAGE_SIZE;
      return { offset: r.offset + skip * PAGE_SIZE, nrPages: Math.min(nrPages, r.nrPages - skip) };
    }
  }
  return undefined;
}
