import { join } from 'node:path';
import type { Logger } from 'pino';
import { isFileError, type Host } from '../hostexec/index.js';

/**
 * Empty writable-layer images made ahead, one per size: `mkfs.ext4` (a
 * process that writes and fsyncs some MB of metadata) was the create path's
 * dearest step after `runc run`, and an empty image is the same whoever gets
 * it. A create renames the spare into its sandbox's directory (same
 * filesystem: atomic, no copy) and a new one is made in the background for
 * the next. Each image is written aside and renamed into place, so a crash
 * leaves either a whole spare or a `.partial` that the next making
 * overwrites; a spare belongs to no sandbox, so nothing else looks at them.
 */
export class SpareLayers {
  private readonly making = new Map<number, Promise<void>>();

  constructor(
    private readonly host: Host,
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Puts an empty ext4 image of `diskMb` at `file` (which must not exist): a spare when there is one, else made now. */
  async take(file: string, diskMb: number): Promise<void> {
    // One being made now is nearly done: cheaper to wait for it than to make another.
    await this.making.get(diskMb);
    try {
      await this.host.rename(this.spare(diskMb), file);
    } catch (e) {
      if (!isFileError(e, 'ENOENT')) throw e;
      await makeImage(this.host, file, diskMb);
    }
    this.refill(diskMb);
  }

  /** Settles once no spare is being made (a daemon stop, so nothing writes into a data dir being removed). */
  async idle(): Promise<void> {
    while (this.making.size) await Promise.all(this.making.values());
  }

  private spare(diskMb: number): string {
    return join(this.dir, `${diskMb}.img`);
  }

  private refill(diskMb: number): void {
    if (this.making.has(diskMb)) return;
    const made = this.host
      .mkdir(this.dir, { recursive: true, mode: 0o700 })
      .then(() => makeImage(this.host, this.spare(diskMb), diskMb))
      .catch((err) => this.log.warn({ err, diskMb }, 'could not make a spare writable layer; the next create makes its own'))
      .finally(() => this.making.delete(diskMb));
    this.making.set(diskMb, made);
  }
}

/** A sparse image with an empty ext4 filesystem; written aside and renamed, so a crash never leaves half of one. */
export async function makeImage(host: Host, file: string, diskMb: number): Promise<void> {
  const partial = `${file}.partial`;
  try {
    await host.writeFile(partial, '', { mode: 0o600 });
    await host.truncate(partial, diskMb * 1024 * 1024);
    // -m 0: root inside is the only user, so nothing is held back for it; lazy inits keep the file sparse.
    await host.run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'nodiscard,lazy_itable_init=1,lazy_journal_init=1', partial]);
    await host.rename(partial, file);
  } catch (e) {
    await host.rm(partial, { force: true });
    throw e;
  }
}
