import type { Host } from '../hostexec/index.js';
import { isMounted, unmount } from './overlay.js';
import type { SandboxPaths } from './paths.js';
import { makeImage, type SpareLayers } from './spare-layers.js';

/**
 * A sandbox's writable layer: the overlay's upper and work directories. With
 * a size limit they live in an ext4 image of the sandbox's own (a sparse
 * file, so it takes only what is written), loop-mounted at `layer/`: the
 * kernel answers ENOSPC to a process that fills it, and the host's disk and
 * every other sandbox never notice. Without one they are plain directories
 * on the data dir's disk.
 *
 * The loop device is attached by mount(8) with autoclear, so it is detached
 * exactly once, by the kernel, when the last user of the filesystem goes (the
 * unmount here, or the lazy end of the sandbox's own mount namespace); a
 * daemon that died between the two leaves one that `detachStrayLoops` finds.
 */
export async function mountLayer(host: Host, p: SandboxPaths, diskMb: number | null, spares?: SpareLayers): Promise<void> {
  await host.mkdir(p.layer, { recursive: true, mode: 0o700 });
  if (diskMb !== null) {
    if (!(await host.exists(p.disk))) await (spares ? spares.take(p.disk, diskMb) : makeImage(host, p.disk, diskMb));
    // noinit_itable: no background zeroing of inode tables, which would fill the sparse file for nothing.
    if (!(await isMounted(host, p.layer))) await host.run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noinit_itable', p.disk, p.layer]);
  }
  await Promise.all([host.mkdir(p.upper, { recursive: true, mode: 0o755 }), host.mkdir(p.work, { recursive: true, mode: 0o700 })]);
}

/** Releases the layer's mount (and with it the loop device); its files stay in the image. Safe to call when not mounted. */
export function unmountLayer(host: Host, p: SandboxPaths): Promise<void> {
  return unmount(host, p.layer);
}

export interface LoopDevice {
  device: string;
  backingFile: string;
}

/** Loop devices whose backing file lies under `dir` (a data dir). */
export async function loopDevicesUnder(host: Host, dir: string): Promise<LoopDevice[]> {
  const { stdout } = await host.run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE']);
  const list = stdout.trim() ? (JSON.parse(stdout) as { loopdevices: { name: string; 'back-file': string | null }[] }).loopdevices : [];
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return list.filter((l) => l['back-file']?.startsWith(prefix)).map((l) => ({ device: l.name, backingFile: l['back-file']!.replace(/ \(deleted\)$/, '') }));
}

/**
 * At daemon start: loop devices of this data dir that nothing mounts (a
 * daemon killed between attaching and mounting, or a kernel that kept one
 * after its image was deleted) are detached.
 */
export async function detachStrayLoops(host: Host, dataDir: string): Promise<string[]> {
  const mounts = await host.readTextFile('/proc/self/mounts');
  const mounted = new Set(mounts.split('\n').map((l) => l.split(' ')[0]));
  const stray = (await loopDevicesUnder(host, dataDir)).filter((l) => !mounted.has(l.device));
  for (const l of stray) await host.run('losetup', ['--detach', l.device], { allowFailure: true });
  return stray.map((l) => l.device);
}
