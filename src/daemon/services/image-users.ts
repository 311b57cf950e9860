import { SYSTEM } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { SandboxService } from './sandbox-service.js';
import type { SnapshotService } from './snapshot-service.js';

/**
 * What stands on an image: sandboxes (wherever they run) and snapshots (whose
 * restore needs its layers under the sandbox's writable layer). An image any
 * of them uses is not removed, so image GC never frees a layer one of them
 * needs; layers other images share are kept by the store itself.
 */
export async function imageUsers(deps: { db: Db; sandboxes: SandboxService; snapshots: SnapshotService }, image: string): Promise<{ sandboxes: string[]; snapshots: string[] }> {
  const sandboxes = (await deps.sandboxes.list(SYSTEM)).filter((s) => s.image === image).map((s) => s.name);
  const snapshots: string[] = [];
  for (const row of await deps.db.selectFrom('snapshots').selectAll().execute()) {
    // A snapshot whose manifest cannot be read restores nothing: it holds no image either.
    const manifest = await deps.snapshots.manifest(row).catch(() => undefined);
    if (manifest?.sandbox.image === image) snapshots.push(row.name);
  }
  return { sandboxes, snapshots };
}
