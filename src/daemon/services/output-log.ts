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

/** Makes a command's log, empty, under the same checks: a background command's, which init then opens and writes. */
export async function createEmptyLog(file: string): Promise<void> {
  const out = await openLog(file);
  await new Promise<void>((resolve) => out.end(() => resolve()));
}

/**
 * A foreground command's output, written as it arrives to its log in the
 * sandbox's guest directory. That directory is writable from inside, so the
 * file is created new (O_EXCL) and never through a link (O_NOFOLLOW), in a
 * directory checked to be a real one. The file is made when the first byte
 * comes (output that comes meanwhile waits in memory): most commands an agent
 * runs print little or nothing, and a command with no output has no file,
 * which reads as empty at every offset (ConsoleLogs.read).
 */
export class OutputLog {
  private stored = 0;
  private failed = false;
  private pending: Buffer[] = [];
  private out: WriteStream | undefined;
  private opened: Promise<WriteStream | undefined> | undefined;

  constructor(
    private readonly file: string,
    private readonly onError: (err: unknown) => void,
  ) {}

  private open(): Promise<WriteStream | undefined> {
    return openLog(this.file).then(
      (out) => {
        for (const b of this.pending) out.write(b);
        this.pending = [];
        return (this.out = out);
      },
      (err) => {
        this.failed = true;
        this.onError(err);
        this.pending = [];
        return undefined;
      },
    );
  }

  add(b: Buffer): void {
    const room = STORED_LIMIT - this.stored;
    if (room <= 0 || this.failed || b.length === 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.stored += part.length;
    if (this.out) this.out.write(part);
    else this.pending.push(part);
    this.opened ??= this.open();
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
