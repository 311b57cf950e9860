import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Fails when a test left runc containers, overlay mounts or network
 * namespaces of its data dir behind: tests must clean up after themselves.
 */
export async function assertNothingLeft(dataDir: string): Promise<void> {
  const problems: string[] = [];
  const containers = JSON.parse(execFileSync('runc', ['--root', join(dataDir, 'runc'), 'list', '--format', 'json']).toString() || 'null') as unknown[] | null;
  if (containers?.length) problems.push(`${containers.length} runc container(s)`);
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dataDir));
  if (mounts.length) problems.push(`mounts: ${mounts.join('; ')}`);
  if (problems.length) throw new Error(`test left behind: ${problems.join(', ')}`);
}

export function bothubNetns(): string[] {
  return execFileSync('ip', ['netns', 'list'])
    .toString()
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('bothub-'));
}
