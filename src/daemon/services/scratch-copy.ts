import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Host } from '../../hostexec/index.js';
import { materializeTree, mountScratch, type ChunkStore, type MaterializeOptions, type SnapshotFile } from '../../runtime/index.js';

/** A directory CRIU can restore from, and what removes it. */
export interface ScratchCopy {
  dir: string;
  release: () => Promise<void>;
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
  opts: MaterializeOptions,
): Promise<ScratchCopy> {
  const out = join(scratchDir, `restore-${randomBytes(6).toString('hex')}`);
  const unmount = await mountScratch(host, out);
  const release = async () => {
    await unmount();
    await host.rm(out, { recursive: true, force: true });
  };
  try {
    await materializeTree(host, files, dir, store, out, opts);
    return { dir: out, release };
  } catch (e) {
    await release();
    throw e;
  }
}
