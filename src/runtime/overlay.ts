import type { Host } from '../hostexec/index.js';

/** The sandbox's root: the read-only image below, its own writable layer above. */
export async function mountOverlay(host: Host, lower: string, upper: string, work: string, target: string): Promise<void> {
  await host.run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target]);
}

export async function isMounted(host: Host, target: string): Promise<boolean> {
  const mounts = await host.readTextFile('/proc/self/mounts');
  return mounts.split('\n').some((line) => line.split(' ')[1] === target);
}

/**
 * Unmounts those of `targets` that are mounted, in their order (a mount
 * before the one it sits on), with one umount process; lazy, so a straggling
 * process cannot keep the sandbox's files alive.
 */
export async function unmount(host: Host, ...targets: string[]): Promise<void> {
  const mounted = new Set((await host.readTextFile('/proc/self/mounts')).split('\n').map((line) => line.split(' ')[1]));
  const present = targets.filter((t) => mounted.has(t));
  if (present.length) await host.run('umount', ['--lazy', ...present]);
}
