import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Host } from '../../hostexec/index.js';
import { materializeLazily, materializeTree, mountScratch, type ChunkStore, type LazyPageSource, type MaterializeOptions, type SnapshotFile } from '../../runtime/index.js';

/** A directory CRIU can restore from, and what removes it. */
export interface ScratchCopy {
  dir: string;
  release: () => Promise<void>;
  /** Where a lazy restore's memory comes from, when the pages images were left sparse. */
  pages?: LazyPageSource;
  /** Asked for lazily, but with so little memory to restore that an eager restore is faster (LAZY_MIN_BYTES). */
  eager?: boolean;
}

export interface ScratchOptions extends MaterializeOptions {
  /** For a lazy restore: CRIU's images directory among the files, whose tasks' pages are then served from the chunks. */
  lazy?: { criuDir: string };
}

/**
 * Files kept as chunks (a snapshot's, a cold image's), put together on a
 * tmpfs of their own under `scratchDir`, every chunk checked as it is read:
 * a damaged one fails here, before any sandbox is touched, and the tmpfs goes.
 */
export async function materializeOnScratch(
  host: Host,
  scratchDir: string,
  files: Record<string, SnapshotFile>,
  dir: string,
  store: ChunkStore,
  opts: ScratchOptions,
): Promise<ScratchCopy> {
  const out = join(scratchDir, `restore-${randomBytes(6).toString('hex')}`);
  const unmount = await mountScratch(host, out);
  const release = async () => {
    await unmount();
    await host.rm(out, { recursive: true, force: true });
  };
  try {
    const lazily = opts.lazy ? await materializeLazily(host, files, dir, store, out, { ...opts, criuDir: opts.lazy.criuDir }) : undefined;
    if (!lazily) await materializeTree(host, files, dir, store, out, opts);
    return lazily === 'eager' ? { dir: out, release, eager: true } : { dir: out, release, pages: lazily };
  } catch (e) {
    await release();
    throw e;
  }
}
