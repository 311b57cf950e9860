import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isFileError, type FileStat, type Host } from '../../hostexec/index.js';

/** A chunk whose bytes no longer hash to its name (bit rot, a torn write, tampering), or one that is gone. */
export class ChunkError extends Error {
  constructor(
    readonly hash: string,
    readonly problem: 'missing' | 'damaged',
  ) {
    super(`chunk ${hash.slice(0, 12)}… ${problem === 'missing' ? 'is missing' : 'does not match its checksum'}`);
  }
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Content-addressed storage of snapshot chunks, named by the sha256 of their
 * bytes. Small on purpose: a local directory now, an object store later
 * (issue 22) implements the same six calls.
 */
export interface ChunkStore {
  /** Whether a chunk of that name and size is there (a torn write leaves a wrong size). */
  has(hash: string, size: number): Promise<boolean>;
  /** Stores bytes under their hash; atomic (never a partial chunk under the name), durable only after flush(). */
  put(hash: string, bytes: Buffer): Promise<void>;
  /** The chunk's bytes, checked against its name; ChunkError when missing or damaged. */
  get(hash: string): Promise<Buffer>;
  /**
   * As get, into `into` (longer than any chunk: CHUNK_BYTES + 1), returning the chunk's size: for readers
   * that stream many chunks through a few buffers of their own (a lazy restore's page server),
   * where a fresh gigabyte of buffers would keep the garbage collector busy.
   */
  readInto?(hash: string, into: Buffer): Promise<number>;
  delete(hash: string): Promise<void>;
  list(): AsyncIterable<{ hash: string; size: number }>;
  /** Everything put so far is durable when this resolves. */
  flush(): Promise<void>;
  /** Where this machine keeps (some of) its chunks as files `<dir>/<first two hex digits>/<hash>`: all of them, or a cache's. */
  readonly localDir?: string;
}

const HASH = /^[0-9a-f]{64}$/;

/**
 * Chunks as files `<root>/<first two hex digits>/<hash>` on the snapshot
 * disk of `host`: the machine whose process keeps the store (the
 * control plane's, or a fleet agent's own).
 */
export class LocalChunkStore implements ChunkStore {
  private readonly tmp: string;
  constructor(
    readonly root: string,
    readonly host: Host,
  ) {
    this.tmp = join(root, '.tmp');
  }

  get localDir(): string {
    return this.root;
  }

  /** Creates the directory and drops chunks a crash left half-written. */
  async init(): Promise<void> {
    await this.host.rm(this.tmp, { recursive: true, force: true });
    await this.host.mkdir(this.tmp, { recursive: true, mode: 0o700 });
  }

  private path(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a chunk name: ${hash}`);
    return join(this.root, hash.slice(0, 2), hash);
  }

  async has(hash: string, size: number): Promise<boolean> {
    return (await this.host.stat(this.path(hash)).catch(() => undefined))?.size === size;
  }

  async put(hash: string, bytes: Buffer): Promise<void> {
    const final = this.path(hash);
    const temp = join(this.tmp, `${hash}.${randomBytes(4).toString('hex')}`);
    try {
      await this.host.writeFile(temp, bytes, { mode: 0o600 });
      await this.host.mkdir(join(this.root, hash.slice(0, 2)), { recursive: true, mode: 0o700 });
      await this.host.rename(temp, final);
    } catch (e) {
      // A write cut short by a full disk must give its space back at once.
      await this.host.rm(temp, { force: true });
      throw e;
    }
  }

  async get(hash: string): Promise<Buffer> {
    const bytes = await this.host.readFile(this.path(hash)).catch((e: unknown) => {
      if (isFileError(e, 'ENOENT')) throw new ChunkError(hash, 'missing');
      throw e;
    });
    if (sha256(bytes) !== hash) throw new ChunkError(hash, 'damaged');
    return bytes;
  }

  async readInto(hash: string, into: Buffer): Promise<number> {
    const fh = await this.host.open(this.path(hash), 'r').catch((e: unknown) => {
      if (isFileError(e, 'ENOENT')) throw new ChunkError(hash, 'missing');
      throw e;
    });
    let size = 0;
    try {
      for (let n; size < into.length && (n = await fh.read(into, size, into.length - size, size)); ) size += n;
    } finally {
      await fh.close();
    }
    // A file filling the whole buffer may be longer still: then it cannot be the chunk its name says.
    if (size === into.length || sha256(into.subarray(0, size)) !== hash) throw new ChunkError(hash, 'damaged');
    return size;
  }

  async delete(hash: string): Promise<void> {
    await this.host.rm(this.path(hash), { force: true });
  }

  async *list(): AsyncIterable<{ hash: string; size: number }> {
    for await (const { hash, stat } of this.chunkFiles()) yield { hash, size: stat.size };
  }

  /** Every chunk file with its stat (size, and the last read as its modification time: see CachedS3ChunkStore). */
  async *chunkFiles(): AsyncIterable<{ hash: string; stat: FileStat }> {
    const names = (path: string) => this.host.readdir(path).then((entries) => entries.map((e) => e.name)).catch(() => [] as string[]);
    for (const prefix of await names(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of await names(join(this.root, prefix))) {
        if (!HASH.test(name)) continue;
        const stat = await this.host.stat(join(this.root, prefix, name)).catch(() => undefined);
        if (stat) yield { hash: name, stat };
      }
    }
  }

  async flush(): Promise<void> {
    // One syncfs for the whole store: far cheaper than an fsync per chunk.
    await this.host.run('sync', ['--file-system', this.root]);
  }
}
