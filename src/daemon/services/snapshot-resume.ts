import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Host } from '../../hostexec/index.js';
import { SNAPSHOT_PARTS, unmount, type SnapshotManifest, type Staging } from '../../runtime/index.js';
import type { SnapshotRow } from '../db/tables.js';
import { PARTIAL } from './snapshot-ingest.js';

/** What a manifest says besides its files: known once CRIU is done, before the durable copy. */
export type Described = Omit<SnapshotManifest, 'files' | 'sizeBytes'>;

/**
 * A leave-running snapshot is answered 'saving' as soon as CRIU is done, and
 * its durable copy is made from the staging area behind the answer. A daemon
 * crash does not lose a tmpfs (nor a staging directory on disk), so the
 * snapshot the client was told about can still be finished at the next start:
 * this sidecar, beside the staging area, keeps what the manifest needs.
 */
const pendingFile = (stagingDir: string) => `${stagingDir}.pending.json`;

/** The staging area's name for one snapshot of one sandbox (see SnapshotWriter.createStaged). */
export const stagingName = (snapshotId: string, sandboxId: string) => `${PARTIAL}${snapshotId}.${sandboxId}.staging`;

export async function writePending(staging: Staging, described: Described): Promise<void> {
  await writeFile(pendingFile(staging.dir), JSON.stringify(described));
}

/** Releases a staging area and its sidecar, exactly once. */
export function withPending(staging: Staging): Staging {
  let released: Promise<void> | undefined;
  return { ...staging, release: () => (released ??= staging.release().then(() => rm(pendingFile(staging.dir), { force: true }))) };
}

export interface Resumable {
  staging: Staging;
  described: Described;
  /** The names under the staging and snapshots directories that start-up clean-up must keep. */
  names: string[];
}

/**
 * A 'saving' leave-running snapshot whose complete dump and sidecar survived
 * the crash, ready to be ingested again; undefined when anything is missing
 * (a reboot emptied the tmpfs, or the crash came before the sidecar).
 */
export async function findResumable(host: Host, row: SnapshotRow, roots: { stagingDir: string; snapshotsDir: string }): Promise<Resumable | undefined> {
  if (!row.leave_running) return undefined;
  const name = stagingName(row.id, row.sandbox_id);
  for (const [root, inMemory] of [
    [roots.stagingDir, true],
    [roots.snapshotsDir, false],
  ] as const) {
    const dir = join(root, name);
    if (!existsSync(join(dir, SNAPSHOT_PARTS.criu, 'inventory.img'))) continue;
    const described = await readFile(pendingFile(dir), 'utf8')
      .then((text) => JSON.parse(text) as Described)
      .catch(() => undefined);
    if (described?.id !== row.id) continue;
    const staging: Staging = {
      dir,
      inMemory,
      release: async () => {
        await unmount(host, dir);
        await rm(dir, { recursive: true, force: true });
      },
    };
    return { staging: withPending(staging), described, names: [name, `${name}.pending.json`] };
  }
  return undefined;
}
