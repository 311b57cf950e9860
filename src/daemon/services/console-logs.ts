import { open, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../../hostexec/index.js';
import type { SandboxPaths } from '../../runtime/index.js';

export interface LogChunk {
  /** Byte offset of data[0] in the log's lifetime. */
  start: number;
  data: Buffer;
  /** Where the next read should start. */
  next: number;
}

const BLOCK = 4096;

/** A log read by byte offset: the console log, or one command's output. */
export interface LogSource {
  file: string;
  /** Bytes before this were freed to keep the size cap. */
  retainedStart(): Promise<number>;
}

/**
 * The console log of a sandbox, read by byte offset. Offsets never shift: the
 * size cap is kept by punching holes at the front of the file (the file keeps
 * its length, the disk blocks are freed), and reads before the retained start
 * begin at it.
 */
export class ConsoleLogs {
  constructor(
    private readonly host: Host,
    private readonly capBytes: number,
    /** Where a sandbox's files are (the runtime's layout). */
    private readonly paths: (sandboxId: string) => SandboxPaths,
  ) {}

  private async retainedStart(p: SandboxPaths): Promise<number> {
    return Number(await readFile(`${p.dir}/console.start`, 'utf8').catch(() => '0')) || 0;
  }

  console(sandboxId: string): LogSource {
    const p = this.paths(sandboxId);
    return { file: p.consoleLog, retainedStart: () => this.retainedStart(p) };
  }

  /** A command's output is kept whole: it has no cap of its own. */
  exec(sandboxId: string, execId: string): LogSource {
    return { file: this.paths(sandboxId).execLog(execId), retainedStart: async () => 0 };
  }

  async read(src: LogSource, offset: number, limit: number): Promise<LogChunk> {
    // O_NOFOLLOW: the file sits in a directory the sandbox can write; never follow its symlinks.
    const fh = await open(src.file, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!fh) return { start: offset, data: Buffer.alloc(0), next: offset };
    try {
      const size = (await fh.stat()).size;
      const start = Math.min(Math.max(offset, await src.retainedStart()), size);
      const length = Math.min(limit, size - start);
      const data = Buffer.alloc(length);
      const { bytesRead } = length > 0 ? await fh.read(data, 0, length, start) : { bytesRead: 0 };
      return { start, data: data.subarray(0, bytesRead), next: start + bytesRead };
    } finally {
      await fh.close();
    }
  }

  /** Yields new output from `offset` until `alive` says the writer is gone and all is read. */
  async *follow(src: LogSource, offset: number, alive: () => Promise<boolean>, signal: AbortSignal): AsyncGenerator<LogChunk> {
    let next = offset;
    let idle = 0;
    while (!signal.aborted) {
      const chunk = await this.read(src, next, 1024 * 1024);
      if (chunk.data.length) {
        idle = 0;
        next = chunk.next;
        yield chunk;
        continue;
      }
      next = chunk.next;
      // Check liveness now and then, not on every empty poll.
      if (++idle % 20 === 0 && !(await alive())) {
        const last = await this.read(src, next, 1024 * 1024);
        if (last.data.length) yield last;
        return;
      }
      await sleep(50, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Frees the oldest bytes once the log passes its cap. */
  async enforceCap(sandboxId: string): Promise<void> {
    const p = this.paths(sandboxId);
    const fh = await open(p.consoleLog, constants.O_RDWR | constants.O_NOFOLLOW).catch(() => undefined);
    if (!fh) return;
    try {
      const size = (await fh.stat()).size;
      const retained = await this.retainedStart(p);
      if (size - retained <= this.capBytes) return;
      const keepFrom = Math.floor((size - this.capBytes / 2) / BLOCK) * BLOCK;
      if (keepFrom <= retained) return;
      // fallocate gets the descriptor we opened without following links, never the path.
      await this.host.run('fallocate', ['--punch-hole', '--offset', String(retained), '--length', String(keepFrom - retained), '/dev/stdin'], { stdinFd: fh.fd });
      await writeFile(`${p.dir}/console.start`, String(keepFrom));
    } finally {
      await fh.close();
    }
  }
}
