import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { eagerExtents, locatePages, PAGE_SIZE, PagemapError, parsePagemap, PE_LAZY, PE_PARENT, PE_PRESENT } from '../runtime/snapshot/pagemap.js';
import { PageServerError, servePages, type LazyPageSource } from '../runtime/snapshot/page-server.js';

/** A protobuf varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

const field = (no: number, value: number) => [...varint(no * 8), ...varint(value)];

/** A pagemap image as CRIU writes it: two magics, then length-prefixed messages (a head, then entries). */
function pagemapImage(pagesId: number, entries: { vaddr: number; nrPages: number; flags?: number; inParent?: boolean; compat?: boolean }[]): Buffer {
  const messages = [
    Buffer.from(field(1, pagesId)),
    ...entries.map((e) =>
      Buffer.from([
        ...field(1, e.vaddr),
        ...field(e.compat ? 2 : 5, e.nrPages),
        ...(e.inParent ? field(3, 1) : []),
        ...(e.flags === undefined ? [] : field(4, e.flags)),
        ...(e.compat ? [] : field(2, e.nrPages)),
      ]),
    ),
  ];
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x54564319, 0);
  head.writeUInt32LE(0x56084025, 4);
  return Buffer.concat([head, ...messages.flatMap((m) => [Buffer.from(new Uint32Array([m.length]).buffer), m])]);
}

const STACK = 0x7ffc_0000_0000;

describe('CRIU pagemap images', () => {
  const image = pagemapImage(3, [
    { vaddr: 0x400000, nrPages: 2, flags: PE_PRESENT },
    { vaddr: 0x7f00_0000_0000, nrPages: 256, flags: PE_PRESENT | PE_LAZY },
    { vaddr: 0x7f00_0010_0000, nrPages: 4, inParent: true },
    { vaddr: 0x7f00_0020_0000, nrPages: 16, flags: PE_PRESENT | PE_LAZY, compat: true },
    { vaddr: STACK, nrPages: 3, flags: PE_PRESENT },
  ]);

  it('reads the pages image id, each range, and where its pages are in the pages image', () => {
    const map = parsePagemap(image);
    assert.equal(map.pagesId, 3);
    assert.deepEqual(
      map.ranges.map((r) => [r.vaddr, r.nrPages, r.flags, r.offset / PAGE_SIZE]),
      [
        [0x400000, 2, PE_PRESENT, 0],
        [0x7f00_0000_0000, 256, PE_PRESENT | PE_LAZY, 2],
        [0x7f00_0010_0000, 4, PE_PARENT, 258],
        [0x7f00_0020_0000, 16, PE_PRESENT | PE_LAZY, 258],
        [STACK, 3, PE_PRESENT, 274],
      ],
    );
  });

  it('gives the restore its eager pages and the page server the rest, fewer than asked at a range’s end', () => {
    const map = parsePagemap(image);
    assert.deepEqual(eagerExtents(map), [
      { offset: 0, length: 2 * PAGE_SIZE },
      { offset: 274 * PAGE_SIZE, length: 3 * PAGE_SIZE },
    ]);
    assert.deepEqual(locatePages(map.ranges, 0x7f00_0000_0000 + 10 * PAGE_SIZE, 4), { offset: 12 * PAGE_SIZE, nrPages: 4 });
    assert.deepEqual(locatePages(map.ranges, 0x7f00_0000_0000 + 250 * PAGE_SIZE, 64), { offset: 252 * PAGE_SIZE, nrPages: 6 });
    assert.equal(locatePages(map.ranges, 0x7f00_0010_0000, 1), undefined, 'pages in a parent image are not here');
    assert.equal(locatePages(map.ranges, 0x500000, 1), undefined, 'no range holds it');
    assert.equal(locatePages(map.ranges, 0x400000 + 5, 1), undefined, 'not page-aligned');
  });

  it('refuses what is not a pagemap CRIU wrote, in one line', () => {
    assert.throws(() => parsePagemap(Buffer.from('not an image at all')), PagemapError);
    assert.throws(() => parsePagemap(image.subarray(0, image.length - 3)), /ends inside an entry/);
    const noHead = image.subarray(0, 8);
    assert.throws(() => parsePagemap(noHead), /no head/);
  });
});

/** The lazy-pages daemon's side: requests as page_server_iov, answers read back. */
function client(socket: Duplex) {
  let got = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  socket.on('error', () => undefined); // the server destroys the stream when it fails: heard through its promise
  const iov = (cmd: number, nrPages: number, vaddr: number, pid: number) => {
    const b = Buffer.alloc(32);
    b.writeUInt32LE(cmd, 0);
    b.writeBigUInt64LE(BigInt(nrPages), 8);
    b.writeBigUInt64LE(BigInt(vaddr), 16);
    b.writeBigUInt64LE(BigInt(pid), 24);
    return b;
  };
  const received = async (bytes: number) => {
    while (got.length < bytes) await new Promise((r) => setImmediate(r));
    const out = got.subarray(0, bytes);
    got = got.subarray(bytes);
    return out;
  };
  return { send: (cmd: number, nrPages: number, vaddr: number, pid: number) => socket.write(iov(cmd, nrPages, vaddr, pid)), received };
}

/** Two ends of a stream: what one writes, the other reads. */
function pair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })];
}

describe('the page server (CRIU’s page-server protocol)', () => {
  const map = parsePagemap(pagemapImage(1, [{ vaddr: 0x10000, nrPages: 8, flags: PE_PRESENT | PE_LAZY }]));
  const image = Buffer.alloc(8 * PAGE_SIZE);
  for (let p = 0; p < 8; p++) image.fill(p + 1, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
  const tasks: LazyPageSource = new Map([[7, { ranges: map.ranges, read: async (offset: number, length: number) => ({ parts: [image.subarray(offset, offset + length)], release: () => undefined }) }]]);

  it('answers PS_IOV_GET with the header (PS_IOV_ADD_F, present) and the pages, fewer at a range’s end, and says 0 to PS_IOV_CLOSE', async () => {
    const [server, criu] = pair();
    const serving = servePages(server, tasks);
    const c = client(criu);
    c.send(7, 2, 0x10000 + 3 * PAGE_SIZE, 7);
    const header = await c.received(32);
    assert.equal(header.readUInt32LE(0), (PE_PRESENT << 16) | 6);
    assert.equal(header.readBigUInt64LE(8), 2n);
    assert.equal(header.readBigUInt64LE(16), BigInt(0x10000 + 3 * PAGE_SIZE));
    assert.equal(header.readBigUInt64LE(24), 7n);
    const pages = await c.received(2 * PAGE_SIZE);
    assert.deepEqual([pages[0], pages[PAGE_SIZE]], [4, 5]);
    c.send(7, 100, 0x10000 + 6 * PAGE_SIZE, 7);
    assert.equal((await c.received(32)).readBigUInt64LE(8), 2n, 'only the two pages the range still holds');
    await c.received(2 * PAGE_SIZE);
    c.send(0x1023, 0, 0, 0);
    assert.equal((await c.received(4)).readInt32LE(0), 0);
    await serving;
  });

  it('fails, ending the stream, on a request for memory the snapshot does not hold', async () => {
    const [server, criu] = pair();
    server.on('error', () => undefined);
    const serving = servePages(server, tasks);
    client(criu).send(7, 1, 0x90000, 7);
    await assert.rejects(serving, (e: Error) => e instanceof PageServerError && /asked for 1 pages at 0x90000 of task 7/.test(e.message));
  });

  it('fails when the lazy-pages daemon hangs up before it says it is done', async () => {
    const [server, criu] = pair();
    const serving = servePages(server, tasks);
    criu.end();
    await assert.rejects(serving, /hung up before it said it was done/);
  });
});
