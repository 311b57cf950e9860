import type { Duplex, Readable, Writable } from 'node:stream';

export type FileKind = 'file' | 'directory' | 'symlink' | 'socket' | 'char-device' | 'block-device' | 'fifo' | 'other';

export interface FileStat {
  kind: FileKind;
  size: number;
  /** Permission bits (0o7777). */
  mode: number;
  mtimeMs: number;
  /** A device node's numbers (char-device, block-device only). */
  device?: { major: number; minor: number };
}

export interface DirEntry {
  name: string;
  /** As lstat sees it: a symlink is a symlink. */
  kind: FileKind;
}

/** An open file, read and written at given positions (a big file in chunks, the tail of one). */
export interface HostFileHandle {
  /** Up to `length` bytes at `position` into `buffer` from `offset`; the count read, 0 at the end of the file. */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** All `length` bytes of `buffer` from `offset`, at `position`. */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void>;
  stat(): Promise<FileStat>;
  /** Permission bits, set apart from open (which the umask trims). */
  chmod(mode: number): Promise<void>;
  /** Flushes the file's data to disk. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface WriteFileOptions {
  /** Permission bits of a file this creates (an existing file keeps its own). */
  mode?: number;
  /** Flush the data to disk before returning: for files that must survive a power cut. */
  fsync?: boolean;
}

/**
 * The files, processes and sockets of a host, as the runtime sees them: the
 * same calls touch this machine (LocalHost, node:fs) or a fleet host
 * (SshHost, SFTP over the SSH connection it holds). Failures are
 * HostFileError, with an errno-like code.
 */
export interface HostFiles {
  readFile(path: string): Promise<Buffer>;
  readTextFile(path: string): Promise<string>;
  writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void>;
  /** `recursive`: parents too, and no error when it exists (as `mkdir -p`). */
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  /** `force`: no error when it is missing; `recursive`: a directory with everything in it. */
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  /** Removes an empty directory (the only way to remove a cgroup). */
  rmdir(path: string): Promise<void>;
  /** Follows symlinks. */
  stat(path: string): Promise<FileStat>;
  lstat(path: string): Promise<FileStat>;
  readdir(path: string): Promise<DirEntry[]>;
  /** Atomic, and replaces `to` (POSIX rename). */
  rename(from: string, to: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  realpath(path: string): Promise<string>;
  readlink(path: string): Promise<string>;
  /** Sets the size; growing makes a sparse file. */
  truncate(path: string, bytes: number): Promise<void>;
  /** A big file's contents (or bytes `start` to `end`, both included), streamed; rejects (missing, forbidden) before any data flows. */
  createReadStream(path: string, range?: { start?: number; end?: number }): Promise<Readable>;
  /** Creates or replaces a file, streamed; rejects before any data flows when it cannot be opened. */
  createWriteStream(path: string, options?: { mode?: number }): Promise<Writable>;
  /** `r`: reading an existing file; `w`: created or emptied, with `mode` if created. */
  open(path: string, flags: 'r' | 'w', mode?: number): Promise<HostFileHandle>;
  /** Sets the access and modification times (a cache's least-recently-used order). */
  utimes(path: string, atime: Date, mtime: Date): Promise<void>;
  /** Copies a file's bytes to `to` (created or replaced); the copy's mode is the source's. */
  copyFile(from: string, to: string): Promise<void>;
  /** Sends a signal to a process; false when there is no such process. */
  kill(pid: number, signal: NodeJS.Signals): Promise<boolean>;
  /** A stream to a Unix socket on the host (a sandbox's init). */
  openSocket(path: string): Promise<Duplex>;
}

/**
 * Synchronous reads, which only this machine offers (a fleet host's file is a
 * round trip away): for the records of a store this process keeps, read on
 * every exec, where a thread-pool hop per file would be most of the cost.
 */
export interface SyncFiles {
  /** The file's text, or undefined when it cannot be read (missing, or a whiteout device). */
  readTextFileSync(path: string): string | undefined;
  /** Changes whenever the file does (its inode, modification time in ns and size); undefined when it is missing. */
  stampSync(path: string): string | undefined;
}

const REASONS: Record<string, string> = {
  ENOENT: 'it does not exist',
  EACCES: 'permission denied; bothub must run as root there',
  EPERM: 'operation not permitted; bothub must run as root there',
  EEXIST: 'it already exists',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  ENOTEMPTY: 'the directory is not empty',
  EBUSY: 'it is in use',
  ENOSPC: 'the disk is full',
  EROFS: 'the filesystem is read-only',
};

/** A file operation on a host that failed; `code` is errno's name (ENOENT, EACCES...), as node:fs gives it. */
export class HostFileError extends Error {
  constructor(
    readonly code: string,
    readonly op: string,
    readonly path: string,
    readonly host: string,
    detail?: string,
  ) {
    super(`cannot ${op} ${path} on host "${host}": ${REASONS[code] ?? detail ?? code}`);
    this.name = 'HostFileError';
  }
}

/** kill(2) with 0 or a negative pid signals a whole group or every process: never what a caller means. */
export function assertPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`refusing to signal process "${pid}": not a process id`);
}

/** True for a HostFileError (or node:fs error) with one of these codes. */
export const isFileError = (e: unknown, ...codes: string[]): boolean =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && codes.includes((e as NodeJS.ErrnoException).code!);

/** glibc's decoding of dev_t (gnu_dev_major / gnu_dev_minor). */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  return { major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) };
}

/** The kind of file from st_mode's type bits (S_IFMT), as both lstat(2) and SFTP report them. */
export function kindOfMode(mode: number): FileKind {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o140000:
      return 'socket';
    case 0o020000:
      return 'char-device';
    case 0o060000:
      return 'block-device';
    case 0o010000:
      return 'fifo';
    default:
      return 'other';
  }
}
