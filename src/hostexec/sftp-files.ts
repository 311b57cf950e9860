import { dirname } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SFTPWrapper, Stats } from 'ssh2';
import type { RunOptions, RunResult } from './host.js';
import { assertPid, HostFileError, isFileError, kindOfMode, type DirEntry, type FileStat, type HostFileHandle, type HostFiles, type WriteFileOptions } from './host-files.js';

/** SFTP status codes (RFC draft-ietf-secsh-filexfer-02 §7) as errno names; OpenSSH's server maps errno to these three. */
const ERRNO_OF_STATUS: Record<number, string> = { 2: 'ENOENT', 3: 'EACCES', 8: 'ENOTSUP' };

/**
 * A fleet host's files over SFTP, on the SSH connection its SshHost already
 * holds: one subsystem channel, each call one request. Recursive removal and
 * signals run the host's own `rm` and `kill` (argument arrays, quoted), one
 * round trip where SFTP would need one per file.
 */
export abstract class SftpFiles implements HostFiles {
  abstract readonly name: string;
  protected abstract sftp(): Promise<SFTPWrapper>;
  abstract run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  abstract openSocket(path: string): Promise<Duplex>;

  /** One SFTP request; a status error becomes a HostFileError, a lost connection stays what it is. */
  private async call<T>(op: string, path: string, request: (s: SFTPWrapper, done: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    const s = await this.sftp();
    return new Promise<T>((resolve, reject) =>
      request(s, (err, value) => {
        if (!err) return resolve(value as T);
        const status = (err as Error & { code?: unknown }).code;
        reject(typeof status === 'number' ? new HostFileError(ERRNO_OF_STATUS[status] ?? 'EIO', op, path, this.name, `SFTP: ${err.message}`) : err);
      }),
    );
  }

  private openHandle(op: string, path: string, flags: 'r' | 'w', mode?: number): Promise<Buffer> {
    return this.call(op, path, (s, done) => s.open(path, flags, mode === undefined ? {} : { mode }, done));
  }

  private closeHandle(handle: Buffer): Promise<void> {
    return this.call('close', '', (s, done) => s.close(handle, done));
  }

  readFile(path: string): Promise<Buffer> {
    // ssh2 reads on to EOF when the size is 0, as /proc and /sys files say theirs is.
    return this.call('read', path, (s, done) => s.readFile(path, done));
  }

  async readTextFile(path: string): Promise<string> {
    return (await this.readFile(path)).toString('utf8');
  }

  async writeFile(path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
    const buf = Buffer.from(data);
    const handle = await this.openHandle('write', path, 'w', options.mode);
    try {
      await this.call('write', path, (s, done) => s.write(handle, buf, 0, buf.length, 0, done));
      if (options.fsync) await this.call('sync', path, (s, done) => s.ext_openssh_fsync(handle, done));
    } finally {
      await this.closeHandle(handle);
    }
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    try {
      await this.call('create directory', path, (s, done) => s.mkdir(path, options.mode === undefined ? {} : { mode: options.mode }, done));
    } catch (e) {
      if (options.recursive && isFileError(e, 'ENOENT') && dirname(path) !== path) {
        await this.mkdir(dirname(path), options);
        return this.mkdir(path, options);
      }
      // OpenSSH answers a plain "Failure" for EEXIST: look.
      const st = await this.stat(path).catch(() => undefined);
      if (st?.kind === 'directory' && options.recursive) return;
      if (st) throw new HostFileError('EEXIST', 'create directory', path, this.name);
      throw e;
    }
  }

  async rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    if (!options.recursive) {
      await this.call('remove', path, (s, done) => s.unlink(path, done)).catch((e: unknown) => {
        if (!(options.force && isFileError(e, 'ENOENT'))) throw e;
      });
      return;
    }
    const r = await this.run('rm', ['-r', ...(options.force ? ['-f'] : []), '--', path], { allowFailure: true });
    if (r.code !== 0) throw new HostFileError(/No such file/.test(r.stderr) ? 'ENOENT' : /Permission denied|not permitted/.test(r.stderr) ? 'EACCES' : 'EIO', 'remove', path, this.name, r.stderr.trim());
  }

  async rmdir(path: string): Promise<void> {
    await this.call('remove directory', path, (s, done) => s.rmdir(path, done));
  }

  /** SFTP's attributes carry no device numbers: `stat` of the host tells them, for device nodes only (the GPU driver's). */
  private async toStat(path: string, st: Stats, follow: boolean): Promise<FileStat> {
    const kind = kindOfMode(st.mode);
    const stat: FileStat = { kind, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtime * 1000 };
    if (kind === 'char-device' || kind === 'block-device') {
      const out = (await this.run('stat', [...(follow ? ['-L'] : []), '-c', '%t %T', '--', path])).stdout.trim().split(' ');
      stat.device = { major: parseInt(out[0]!, 16), minor: parseInt(out[1]!, 16) };
    }
    return stat;
  }

  async stat(path: string): Promise<FileStat> {
    return this.toStat(path, await this.call<Stats>('stat', path, (s, done) => s.stat(path, done)), true);
  }

  async lstat(path: string): Promise<FileStat> {
    return this.toStat(path, await this.call<Stats>('stat', path, (s, done) => s.lstat(path, done)), false);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const list = await this.call<{ filename: string; attrs: { mode: number } }[]>('list', path, (s, done) => s.readdir(path, done));
    return list.map((e) => ({ name: e.filename, kind: kindOfMode(e.attrs.mode) }));
  }

  async rename(from: string, to: string): Promise<void> {
    // Plain SFTP rename refuses an existing target; OpenSSH's extension is rename(2).
    await this.call('rename', from, (s, done) => s.ext_openssh_rename(from, to, done));
  }

  async exists(path: string): Promise<boolean> {
    return this.call('stat', path, (s, done) => s.stat(path, done)).then(
      () => true,
      (e: unknown) => {
        if (e instanceof HostFileError) return false;
        throw e;
      },
    );
  }

  realpath(path: string): Promise<string> {
    return this.call('resolve', path, (s, done) => s.realpath(path, done));
  }

  readlink(path: string): Promise<string> {
    return this.call('read link', path, (s, done) => s.readlink(path, done));
  }

  async truncate(path: string, bytes: number): Promise<void> {
    await this.call('truncate', path, (s, done) => s.setstat(path, { size: bytes }, done));
  }

  async createReadStream(path: string, range: { start?: number; end?: number } = {}): Promise<Readable> {
    const handle = await this.openHandle('read', path, 'r');
    return (await this.sftp()).createReadStream(path, { handle, autoClose: true, ...range });
  }

  async createWriteStream(path: string, options: { mode?: number } = {}): Promise<Writable> {
    const handle = await this.openHandle('write', path, 'w', options.mode);
    return (await this.sftp()).createWriteStream(path, { handle, autoClose: true });
  }

  async open(path: string, flags: 'r' | 'w', mode?: number): Promise<HostFileHandle> {
    const handle = await this.openHandle(flags === 'r' ? 'read' : 'write', path, flags, mode);
    return {
      // ssh2 splits a long read or write into the server's packet size, and answers 0 at the end of the file.
      read: (buffer, offset, length, position) => this.call<number>('read', path, (s, done) => s.read(handle, buffer, offset, length, position, (err, n) => done(err, n))),
      write: (buffer, offset, length, position) => this.call('write', path, (s, done) => s.write(handle, Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength), offset, length, position, done)),
      stat: async () => this.toStat(path, await this.call<Stats>('stat', path, (s, done) => s.fstat(handle, done)), true),
      chmod: (mode) => this.call('change the mode of', path, (s, done) => s.fchmod(handle, mode, done)),
      sync: () => this.call('flush', path, (s, done) => s.ext_openssh_fsync(handle, done)),
      close: () => this.closeHandle(handle),
    };
  }

  async utimes(path: string, atime: Date, mtime: Date): Promise<void> {
    await this.call('set the times of', path, (s, done) => s.utimes(path, atime, mtime, done));
  }

  /** SFTP has no copy: the bytes go there and back over the connection, as small files (a snapshot's whole ones) do. */
  async copyFile(from: string, to: string): Promise<void> {
    const { mode } = await this.stat(from);
    await pipeline(await this.createReadStream(from), await this.createWriteStream(to, { mode }));
  }

  async kill(pid: number, signal: NodeJS.Signals): Promise<boolean> {
    assertPid(pid);
    const r = await this.run('kill', ['-s', signal.replace(/^SIG/, ''), String(pid)], { allowFailure: true });
    if (r.code === 0) return true;
    if (/No such process/.test(r.stderr)) return false;
    throw new HostFileError(/not permitted/.test(r.stderr) ? 'EPERM' : 'EIO', `send ${signal} to process`, String(pid), this.name, r.stderr.trim());
  }
}
