import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { HostFiles } from '../../hostexec/index.js';

/** A work directory not yet complete: an import, a build, a layer being unpacked, an image being removed. */
export const PARTIAL = '.partial-';

/** `<dir>/.partial-<pid>-<what>-<random>`: named with the process that fills it, so a start can tell a crash's from another daemon's. */
export function partialPath(dir: string, what: string): string {
  return join(dir, `${PARTIAL}${process.pid}-${what}-${randomBytes(4).toString('hex')}`);
}

/**
 * Removes the work directories under `dir` whose process is gone (what a
 * crash left). Several daemons on one machine may share an image store (the
 * test suite's is shared), so another daemon's import in progress stays.
 */
export async function removeAbandonedPartials(host: HostFiles, dir: string): Promise<void> {
  for (const { name } of await host.readdir(dir)) {
    if (!name.startsWith(PARTIAL)) continue;
    const pid = Number(/^\.partial-(\d+)-/.exec(name)?.[1]);
    const othersInProgress = pid > 0 && pid !== process.pid && (await host.exists(`/proc/${pid}`));
    if (!othersInProgress) await host.rm(join(dir, name), { recursive: true, force: true });
  }
}
