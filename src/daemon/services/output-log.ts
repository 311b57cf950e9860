import { constants, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BothubError } from '../../core/index.js';

/** What is kept of one foreground command's output; more is counted, not stored. */
const STORED_LIMIT = 16 * 1024 * 1024;

/**
 * A foreground command's output, written as it arrives to its log in the
 * sandbox's guest directory. That directory is writable from inside, so the
 * file is created new (O_EXCL) and never through a link (O_NOFOLLOW), in a
 * directory checked to be a real one.
 */
export class OutputLog {
  private stored = 0;

  private constructor(private readonly out: WriteStream) {}

  static async create(file: string): Promise<OutputLog> {
    const dir = dirname(file);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if (!(await lstat(dir)).isDirectory())
      throw new BothubError('RUNTIME_FAILED', `${dir} is not a directory (replaced from inside the sandbox?); its command logs cannot be kept`);
    const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    // The stream owns the handle (and closes it): never a bare fd a collected FileHandle would close again.
    return new OutputLog(createWriteStream('', { fd: fh }));
  }

  add(b: Buffer): void {
    const room = STORED_LIMIT - this.stored;
    if (room <= 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.stored += part.length;
    this.out.write(part);
  }

  /** Flushed and closed; resolves to the bytes stored (the log's size). */
  close(): Promise<number> {
    return new Promise((resolve) => this.out.end(() => resolve(this.stored)));
  }
}
