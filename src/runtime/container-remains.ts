import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../hostexec/index.js';
import { CGROUP_ROOT, isCgroupV2 } from './cgroups.js';
import { mountsUnder } from './host-objects.js';

/** Every directory of the cgroup: one per controller on v1, one on v2. */
async function cgroupDirs(host: Host, cgroupsPath: string): Promise<string[]> {
  const candidates = (await isCgroupV2(host))
    ? [join(CGROUP_ROOT, cgroupsPath)]
    : (await host.readdir(CGROUP_ROOT)).map((c) => join(CGROUP_ROOT, c.name, cgroupsPath));
  const present = await Promise.all(candidates.map((d) => host.exists(d)));
  return candidates.filter((_, i) => present[i]);
}

const procsOf = async (host: Host, dirs: string[]) =>
  (await Promise.all(dirs.map((d) => host.readTextFile(join(d, 'cgroup.procs')).catch(() => '')))).flatMap((text) => text.split('\n').filter(Boolean).map(Number));

/**
 * What `runc delete` does not know of: a `runc run` or `runc restore` cut
 * short by a crash leaves a state directory without a state (holding CRIU's
 * root mount) and a cgroup, perhaps with half-restored processes, frozen. Any
 * of them makes the next start or restore of that id fail ("container with
 * given ID already exists"). Removes them; a no-op when nothing is left.
 */
export async function removeContainerRemains(host: Host, stateDir: string, cgroupsPath: string): Promise<void> {
  if (await host.exists(stateDir)) {
    for (const m of (await mountsUnder(host, stateDir)).reverse()) await host.run('umount', ['--lazy', m], { allowFailure: true });
    await host.rm(stateDir, { recursive: true, force: true });
  }
  const dirs = await cgroupDirs(host, cgroupsPath);
  if (!dirs.length) return;
  // A frozen process cannot die: thaw first.
  const v2 = await isCgroupV2(host);
  const freezer = v2 ? join(CGROUP_ROOT, cgroupsPath, 'cgroup.freeze') : join(CGROUP_ROOT, 'freezer', cgroupsPath, 'freezer.state');
  if (await host.exists(freezer)) await host.writeFile(freezer, v2 ? '0' : 'THAWED');
  for (let i = 0; i < 200; i++) {
    const pids = await procsOf(host, dirs);
    if (!pids.length) break;
    await Promise.all(pids.map((pid) => host.kill(pid, 'SIGKILL').catch(() => false)));
    await sleep(10);
  }
  // Children first: rmdir removes only empty cgroups.
  for (const d of dirs) {
    for (const child of (await host.readdir(d)).filter((e) => e.kind === 'directory')) await host.rmdir(join(d, child.name));
    await host.rmdir(d).catch(() => undefined); // still busy: the consistency check reports it
  }
}
