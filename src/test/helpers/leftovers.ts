import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalHost } from '../../hostexec/index.js';
import { loopDevicesUnder } from '../../runtime/index.js';
import { until } from './sandbox.js';

/**
 * Fails when a test left runc containers, overlay mounts, loop devices or
 * network namespaces of its data dir behind: tests must clean up after themselves.
 */
export async function assertNothingLeft(dataDir: string): Promise<void> {
  const problems: string[] = [];
  const containers = JSON.parse(execFileSync('runc', ['--root', join(dataDir, 'runc'), 'list', '--format', 'json']).toString() || 'null') as unknown[] | null;
  if (containers?.length) problems.push(`${containers.length} runc container(s)`);
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dataDir));
  if (mounts.length) problems.push(`mounts: ${mounts.join('; ')}`);
  // The kernel detaches a loop device when the last user of its filesystem goes, which a lazy unmount lets happen a moment later.
  const loops = await until('loop devices to be detached', async () => ((await loopDevicesUnder(new LocalHost(), dataDir)).length ? undefined : []), 5000).catch(() =>
    loopDevicesUnder(new LocalHost(), dataDir),
  );
  if (loops.length) problems.push(`loop devices: ${loops.map((l) => `${l.device} (${l.backingFile})`).join('; ')}`);
  if (problems.length) throw new Error(`test left behind: ${problems.join(', ')}`);
}

export function bothubNetns(): string[] {
  return execFileSync('ip', ['netns', 'list'])
    .toString()
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('bothub-'));
}

/**
 * The `bothub-<id>` namespaces made since `before` that no other daemon owns.
 * A file running beside this one may be destroying a sandbox right now, its
 * directory gone a moment before its namespace: what is left is asked again
 * for a few seconds, and a namespace this data dir leaked stays.
 */
export async function netnsLeftBehind(before: ReadonlySet<string>, dataDir: string): Promise<string[]> {
  const left = () => netnsNotOwnedElsewhere(bothubNetns().filter((n) => !before.has(n)), dataDir);
  return until('network namespaces of other tests to go', async () => (left().length ? undefined : []), 5000).catch(left);
}

/**
 * Of these `bothub-<id>` namespaces, the ones no other daemon on this machine
 * owns: a sandbox directory of that id in another data dir (a test running
 * beside this one, an agent's, a benchmark's) makes the namespace theirs.
 */
function netnsNotOwnedElsewhere(names: string[], ownDataDir: string): string[] {
  const elsewhere = new Set<string>();
  for (const entry of readdirSync(tmpdir()).filter((e) => e.startsWith('bothub-'))) {
    const dir = join(tmpdir(), entry);
    if (dir === ownDataDir) continue;
    for (const sandboxes of [join(dir, 'sandboxes'), join(dir, 'agent-data', 'sandboxes')]) {
      for (const id of readdirOrNone(sandboxes)) elsewhere.add(`bothub-${id}`);
    }
  }
  return names.filter((n) => !elsewhere.has(n));
}

function readdirOrNone(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
