import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { once, type EventEmitter } from 'node:events';
import { create, extract } from 'tar';
import type { CallOptions } from './deadline.js';
import type { FileEntryT, FileStatT } from './generated/schemas.js';
import type { Transport, UploadBody } from './transport.js';

/**
 * Files inside a sandbox. Paths are absolute and resolve in the sandbox's own
 * root. Directories travel as tar (the archive routes), modes kept.
 */
export class Files {
  constructor(
    private readonly transport: Transport,
    readonly sandbox: string,
  ) {}

  private get params() {
    return { name: this.sandbox };
  }

  /** Directory trees may be large: their deadline defaults to the long operations' one. */
  private long(opts: CallOptions): CallOptions {
    return { ...opts, timeoutMs: opts.timeoutMs ?? this.transport.options.operationTimeoutMs };
  }

  stat(path: string, opts?: CallOptions): Promise<FileStatT> {
    return this.transport.call('statFile', { params: this.params, query: { path } }, opts);
  }

  list(path: string, opts?: CallOptions): Promise<FileEntryT[]> {
    return this.transport.call('listFiles', { params: this.params, query: { path } }, opts);
  }

  /** A file's bytes, from `offset`, up to `length` (at most 64 MiB a call). */
  async read(path: string, opts: CallOptions & { offset?: number; length?: number } = {}): Promise<Uint8Array> {
    return (await this.transport.bytes('readFile', { params: this.params, query: { path, offset: opts.offset, length: opts.length } }, opts)).data;
  }

  async readText(path: string, opts?: CallOptions): Promise<string> {
    return new TextDecoder().decode(await this.read(path, opts));
  }

  /** Writes a file (at most 64 MiB), making its parent directories; `mode` is octal, default "0644". */
  write(path: string, data: UploadBody, opts: CallOptions & { mode?: string } = {}): Promise<FileStatT> {
    return this.transport.json('writeFile', { params: this.params, query: { path, mode: opts.mode }, upload: data }, opts);
  }

  /**
   * Copies a local directory's contents (or a local file) into the sandbox
   * directory `remoteDir`, made if missing.
   */
  async upload(localPath: string, remoteDir: string, opts: CallOptions = {}): Promise<void> {
    const isDir = (await stat(localPath)).isDirectory();
    const pack = isDir ? create({ cwd: localPath, portable: true }, ['.']) : create({ cwd: dirname(localPath), portable: true }, [basename(localPath)]);
    await this.transport.json('putArchive', { params: this.params, query: { path: remoteDir }, upload: pack }, this.long(opts));
  }

  /**
   * Copies a sandbox directory's contents (or a sandbox file) into the local
   * directory `localDir`, made if missing. Entries that would land outside it
   * are refused by the unpacker.
   */
  async download(remotePath: string, localDir: string, opts: CallOptions = {}): Promise<void> {
    const what = await this.stat(remotePath, opts);
    await mkdir(localDir, { recursive: true });
    // The archive's root entry is the path's last component: a directory's contents go straight into localDir.
    const unpack = extract({ cwd: localDir, strip: what.type === 'directory' ? 1 : 0, strict: true });
    const finished = new Promise<void>((resolve, reject) => {
      unpack.on('error', reject);
      unpack.on('close', () => resolve());
    });
    finished.catch(() => undefined); // awaited below; an early failure also ends the loop through 'drain'
    try {
      for await (const chunk of this.transport.stream('getArchive', { params: this.params, query: { path: remotePath } }, this.long(opts))) {
        // The unpacker parses Buffers only (a plain Uint8Array fails its checksums).
        if (!unpack.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) await once(unpack as unknown as EventEmitter, 'drain');
      }
      unpack.end();
    } catch (e) {
      unpack.abort(e as Error);
      throw e;
    }
    await finished;
  }
}
