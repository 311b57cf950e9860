import { constants, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BothubError } from '../../core/index.js';

/** What is kept of one foreground command's output; more is counted, not stored. */
const STORED_LIMIT = 16 * 1024 * 1024;

async function openLog(file: string): Promise<WriteStream> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (!(await lstat(dir)).isDirectory()) throw new BothubError('RUNTIME_FAILED', `${dir} is not a directory (replaced from inside the sandbox?); its command logs cannot be kept`);
  const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  // The stream owns the handle (and closes it): never a bare fd that a collected FileHandle would close again.
  return createWriteStream('', { fd: fh });
}

/**
 * A foreground command's output, written as it arrives to its log in the
 * sandbox's guest directory. That directory is writable from inside, so the
 * file is created new (O_EXCL) and never through a link (O_NOFOLLOW), in a
 * directory checked to be a real one. Opening runs alongside the command's
 * start (it is on the exec path); output that comes first waits in memory.
 */
export class OutputLog {
  private stored = 0;
  private failed = false;
  private pending: Buffer[] = [];
  private out: WriteStream | undefined;
  private readonly opened: Promise<WriteStream | undefined>;

  constructor(file: string, onError: (err: unknown) => void) {
    this.opened = openLog(file).then(
      (out) => {
        for (const b of this.pending) out.write(b);
        this.pending = [];
        return (this.out = out);
      },
      (err) => {
        this.failed = true;
        onError(err);
        this.pending = [];
        return undefined;
      },
    );
  }

  add(b: Buffer): void {
    const room = STORED_LIMIT - this.stored;
    if (room <= 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.stored += part.length;
    if (this.out) this.out.write(part);
    else this.pending.push(part);
  }

  /** The log's size once flushed (0 if it could not be kept). */
  get bytes(): number {
    return this.failed ? 0 : this.stored;
  }

  /** Flushed and closed. */
  async close(): Promise<void> {
    const out = await this.opened;
    if (out) await new Promise<void>((resolve) => out.end(() => resolve()));
  }
}
