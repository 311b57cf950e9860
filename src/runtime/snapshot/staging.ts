import { join } from 'node:path';
import type { Host, HostFiles } from '../../hostexec/index.js';
import { unmount } from '../overlay.js';

/**
 * Where CRIU writes a dump: a tmpfs when the dump fits in a share of the
 * memory the host has free, so the sandbox stands frozen only as long as it
 * takes to copy its memory once; the disk otherwise. The durable copy is made
 * from here after the sandbox runs again.
 */
export interface Staging {
  dir: string;
  inMemory: boolean;
  /** Unmounts and removes it, exactly once. */
  release: () => Promise<void>;
}

/** MemAvailable from /proc/meminfo, in bytes. */
export async function availableMemoryBytes(host: HostFiles): Promise<number> {
  const kb = /MemAvailable:\s+(\d+) kB/.exec(await host.readTextFile('/proc/meminfo'))?.[1];
  return Number(kb ?? 0) * 1024;
}

/** Room left in a staging tmpfs beyond the estimate: CRIU's own images and the estimate's slack. */
const HEADROOM = 64 << 20;

/**
 * A staging directory named `name` for a dump of about `neededBytes`: a tmpfs
 * under `memoryRoot` capped at `share` of the free memory when it fits there,
 * else a directory under `diskRoot`.
 */
export async function openStaging(host: Host, roots: { memoryRoot: string; diskRoot: string }, name: string, neededBytes: number, share: number): Promise<Staging> {
  const cap = Math.floor((await availableMemoryBytes(host)) * share);
  const inMemory = neededBytes + HEADROOM <= cap;
  const dir = join(inMemory ? roots.memoryRoot : roots.diskRoot, name);
  await unmount(host, dir);
  await host.rm(dir, { recursive: true, force: true });
  await host.mkdir(dir, { recursive: true, mode: 0o700 });
  if (inMemory) await host.run('mount', ['-t', 'tmpfs', '-o', `size=${cap},mode=0700,nosuid,nodev`, 'tmpfs', dir]);
  let released = false;
  return {
    dir,
    inMemory,
    release: async () => {
      if (released) return;
      released = true;
      await unmount(host, dir);
      await host.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every staging directory under `root` (a crash left them) but those in `keep`: unmounted and removed. Returns their names. */
export async function clearStaging(host: Host, root: string, keep: ReadonlySet<string> = new Set()): Promise<string[]> {
  const names = (await host.readdir(root).catch(() => [])).map((e) => e.name).filter((n) => !keep.has(n));
  for (const name of names) {
    await unmount(host, join(root, name));
    await host.rm(join(root, name), { recursive: true, force: true });
  }
  return names;
}
