import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../hostexec/index.js';
import { mountsUnder } from './host-objects.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const IS_V2 = !existsSync(join(CGROUP_ROOT, 'memory'));

/** Every directory of the cgroup: one per controller on v1, one on v2. */
function cgroupDirs(cgroupsPath: string): string[] {
  if (IS_V2) return [join(CGROUP_ROOT, cgroupsPath)].filter((d) => existsSync(d));
  return readdirSync(CGROUP_ROOT)
    .map((c) => join(CGROUP_ROOT, c, cgroupsPath))
    .filter((d) => existsSync(d));
}

const procsOf = (dirs: string[]) =>
  dirs.flatMap((d) => {
    try {
      return readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });

/**
 * What `runc delete` does not know of: a `runc run` or `runc restore` cut
 * short by a crash leaves a state directory without a state (holding CRIU's
 * root mount) and a cgroup, perhaps with half-restored processes, frozen. Any
 * of them makes the next start or restore of that id fail ("container with
 * given ID already exists"). Removes them; a no-op when nothing is left.
 */
export async function removeContainerRemains(host: Host, stateDir: string, cgroupsPath: string): Promise<void> {
  if (existsSync(stateDir)) {
    for (const m of (await mountsUnder(stateDir)).reverse()) await host.run('umount', ['--lazy', m], { allowFailure: true });
    await rm(stateDir, { recursive: true, force: true });
  }
  const dirs = cgroupDirs(cgroupsPath);
  if (!dirs.length) return;
  // A frozen process cannot die: thaw first.
  const freezer = IS_V2 ? join(CGROUP_ROOT, cgroupsPath, 'cgroup.freeze') : join(CGROUP_ROOT, 'freezer', cgroupsPath, 'freezer.state');
  if (existsSync(freezer)) writeFileSync(freezer, IS_V2 ? '0' : 'THAWED');
  for (let i = 0; i < 200 && procsOf(dirs).length; i++) {
    for (const pid of procsOf(dirs)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(10);
  }
  // Children first: rmdir removes only empty cgroups.
  for (const d of dirs) {
    for (const child of readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory())) rmdirSync(join(d, child.name), { recursive: false });
    try {
      rmdirSync(d);
    } catch {
      // still busy: the consistency check reports it
    }
  }
}
