import { existsSync, lstatSync, readFileSync, statSync, writeFileSync, type BigIntStats, type Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import net from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { assertPid, deviceNumbers, HostFileError, kindOfMode, type DirEntry, type FileKind, type FileStat, type HostFileHandle, type HostFiles, type SyncFiles, type WriteFileOptions } from './host-files.js';

/**
 * procfs, sysfs and cgroupfs files are made by the kernel from memory on
 * each read: a sync call there costs microseconds, less than the thread-pool
 * hop of node:fs/promises, and never blocks on a disk. The runtime's hot
 * paths (cgroup counters, the freezer, a process's state) read and write only these.
 */
const isKernelFile = (path: string) => path.startsWith('/proc/') || path.startsWith('/sys/');

function toStat(st: BigIntStats): FileStat {
  const kind = kindOfMode(Number(st.mode));
  return {
    kind,
    size: Number(st.size),
    mode: Number(st.mode) & 0o7777,
    mtimeMs: Number(st.mtimeMs),
    ...(kind === 'char-device' || kind === 'block-device' ? { device: deviceNumbers(st.rdev) } : {}),
  };
}

function direntKind(d: Dirent): FileKind {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'directory';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isSocket()) return 'socket';
  if (d.isCharacterDevice()) return 'char-device';
  if (d.isBlockDevice()) return 'block-device';
  if (d.isFIFO()) return 'fifo';
  return 'other';
}

/** This machine's files and processes, with node:fs: the one place outside tests where the runtime's file access meets the OS. */
export abstract class LocalFiles implements HostFiles, SyncFiles {
  abstract readonly name: string;

  /** A node:fs error as a HostFileError that names the host, the operation and the path. */
  private async attempt<T>(op: string, path: string, call: () => Promise<T> | T): Promise<T> {
    try {
      return await call();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) throw new HostFileError(code, op, path, this.name, (e as Error).message);
      throw e;
    }
  }

  readFile(path: string): Promise<Buffer> {
    return this.attempt('read', path, () => (isKernelFile(path) ? readFileSync(path) : fs.readFile(path)));
  }

  readTextFile(path: string): Promise<string> {
    return this.attempt('read', path, () => (isKernelFile(path) ? readFileSync(path, 'utf8') : fs.readFile(path, 'utf8')));
  }

  writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    return this.attempt('write', path, async () => {
      if (isKernelFile(path)) return writeFileSync(path, data);
      if (!options.fsync) return fs.writeFile(path, data, { mode: options.mode });
      const fh = await fs.open(path, 'w', options.mode);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  }

  readTextFileSync(path: string): string | undefined {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  stampSync(path: string): string | undefined {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    return st && `${st.ino}:${st.mtimeNs}:${st.size}`;
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    await this.attempt('create directory', path, () => fs.mkdir(path, options));
  }

  rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    return this.attempt('remove', path, () => fs.rm(path, options));
  }

  rmdir(path: string): Promise<void> {
    return this.attempt('remove directory', path, () => fs.rmdir(path));
  }

  stat(path: string): Promise<FileStat> {
    return this.attempt('stat', path, async () => toStat(await fs.stat(path, { bigint: true })));
  }

  /**
   * Synchronous: asked on every exec (init's socket, checked before connecting), of a path
   * whose inode the kernel has cached; the call costs microseconds, where the thread-pool
   * hop of node:fs/promises costs ~50 µs of CPU and a wake-up of the event loop.
   */
  lstat(path: string): Promise<FileStat> {
    return this.attempt('stat', path, () => toStat(lstatSync(path, { bigint: true })));
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.attempt('list', path, async () => (await fs.readdir(path, { withFileTypes: true })).map((d) => ({ name: d.name, kind: direntKind(d) })));
  }

  rename(from: string, to: string): Promise<void> {
    return this.attempt('rename', from, () => fs.rename(from, to));
  }

  async exists(path: string): Promise<boolean> {
    if (isKernelFile(path)) return existsSync(path);
    return fs.access(path).then(
      () => true,
      () => false,
    );
  }

  realpath(path: string): Promise<string> {
    return this.attempt('resolve', path, () => fs.realpath(path));
  }

  readlink(path: string): Promise<string> {
    return this.attempt('read link', path, () => fs.readlink(path));
  }

  truncate(path: string, bytes: number): Promise<void> {
    return this.attempt('truncate', path, () => fs.truncate(path, bytes));
  }

  async createReadStream(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    const fh = await this.attempt('read', path, () => fs.open(path, 'r'));
    return fh.createReadStream({ ...range, highWaterMark: 1 << 20 });
  }

  async createWriteStream(path: string, options: { mode?: number } = {}): Promise<Writable> {
    const fh = await this.attempt('write', path, () => fs.open(path, 'w', options.mode));
    return fh.createWriteStream();
  }

  async open(path: string, flags: 'r' | 'w', mode?: number): Promise<HostFileHandle> {
    const fh = await this.attempt(flags === 'r' ? 'read' : 'write', path, () => fs.open(path, flags, mode));
    const io = <T>(op: string, call: () => Promise<T>) => this.attempt(op, path, call);
    return {
      read: async (buffer, offset, length, position) => (await io('read', () => fh.read(buffer, offset, length, position))).bytesRead,
      write: async (buffer, offset, length, position) => {
        // fs can write fewer bytes than asked (a signal, a full pipe); a file on disk rarely does, but the contract is all of them.
        for (let done = 0; done < length; ) done += (await io('write', () => fh.write(buffer, offset + done, length - done, position + done))).bytesWritten;
      },
      stat: async () => toStat(await io('stat', () => fh.stat({ bigint: true }))),
      chmod: (m) => io('change the mode of', () => fh.chmod(m)),
      sync: () => io('flush', () => fh.sync()),
      close: () => fh.close(),
    };
  }

  utimes(path: string, atime: Date, mtime: Date): Promise<void> {
    return this.attempt('set the times of', path, () => fs.utimes(path, atime, mtime));
  }

  copyFile(from: string, to: string): Promise<void> {
    return this.attempt('copy', from, () => fs.copyFile(from, to));
  }

  async kill(pid: number, signal: NodeJS.Signals): Promise<boolean> {
    assertPid(pid);
    try {
      process.kill(pid, signal);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw new HostFileError((e as NodeJS.ErrnoException).code ?? 'EPERM', `send ${signal} to process`, String(pid), this.name, (e as Error).message);
    }
  }

  /** A Unix socket here; connection errors keep their errno code (ENOENT, ECONNREFUSED), callers retry on them. */
  openSocket(path: string): Promise<Duplex> {
    return this.attempt(
      'connect to',
      path,
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(path);
          s.once('connect', () => {
            s.removeListener('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        }),
    );
  }
}
