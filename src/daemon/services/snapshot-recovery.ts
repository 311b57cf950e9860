import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Host } from '../../hostexec/index.js';
import { MANIFEST, SNAPSHOT_PARTS, unmount, type SandboxRuntime, type SnapshotManifest } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import { LOCAL, type SandboxService } from './sandbox-service.js';

export interface SnapshotRecoveryDeps {
  db: Db;
  runtime: SandboxRuntime;
  sandboxes: SandboxService;
  snapshotsDir: string;
  /** Where dumps are staged (snapshot-service.ts): a stopping snapshot's images live there until durable. */
  stagingDir: string;
  host: Host;
  coldDir: (id: string) => string;
  log: Logger;
}

/** `.partial-<snapshot id>.<sandbox id>[.staging]`: how a snapshot being written, or its staged dump, is named (see SnapshotService.create). */
const PARTIAL_OF = /^\.partial-[0-9a-f]{12}\.([0-9a-f]{12})(\.staging)?$/;

/**
 * At start-up, before unfinished snapshot directories are removed: a snapshot
 * that stops its sandbox ends the processes as soon as CRIU's dump is done,
 * long before the snapshot is recorded (checksums, sync, rename, record). A
 * crash in that window must not lose the processes:
 *  - recorded, but the sandbox not yet marked: it is stopped into that snapshot;
 *  - written but not recorded: its images are the processes' only copy, so they
 *    become the sandbox's cold state and it wakes on the next request (the
 *    snapshot itself was never acknowledged and does not appear).
 * Encrypted images are sealed with the snapshot's key, not the cold one: those stay lost.
 */
export async function recoverCutShortSnapshots(deps: SnapshotRecoveryDeps): Promise<void> {
  const { db, runtime, sandboxes, log } = deps;
  const orphaned = async (row: SandboxRow | undefined): Promise<boolean> => {
    if (!row || row.host !== LOCAL || row.status !== 'running' || row.thermal === 'cold') return false;
    const state = await runtime.state(row);
    return state?.status !== 'running' && state?.status !== 'paused';
  };
  const rowOf = (id: string) => db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst();

  for (const row of await db.selectFrom('sandboxes').selectAll().where('host', '=', LOCAL).where('status', '=', 'running').execute()) {
    const last = await db.selectFrom('snapshots').selectAll().where('sandbox_id', '=', row.id).where('status', '=', 'ready').orderBy('created_at', 'desc').executeTakeFirst();
    if (!last || last.leave_running || (row.started_at && last.created_at < row.started_at) || !(await orphaned(row))) continue;
    log.warn({ sandbox: row.name, snapshot: last.name }, 'a snapshot was recorded but its sandbox not yet marked stopped into it');
    await runtime.release({ ...sandboxes.definition(row), address: null });
    await sandboxes.setStatus(row.id, 'snapshotted', `stopped into snapshot "${last.name}"; resume with \`POST /api/v1/snapshots/${last.name}/restore\``, { snapshot_id: last.id, started_at: null });
  }

  const recorded = new Set((await db.selectFrom('snapshots').select('id').execute()).map((r) => r.id));
  const inStaging = (await readdir(deps.stagingDir).catch(() => [] as string[])).map((e) => join(deps.stagingDir, e));
  const inSnapshots = (await readdir(deps.snapshotsDir).catch(() => [] as string[])).map((e) => join(deps.snapshotsDir, e));
  for (const dir of [...inStaging, ...inSnapshots]) {
    const entry = basename(dir);
    let sandboxId = PARTIAL_OF.exec(entry)?.[1];
    if (!sandboxId && !entry.startsWith('.') && !recorded.has(entry) && existsSync(join(dir, MANIFEST)))
      sandboxId = (JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as SnapshotManifest).sandbox.id;
    if (!sandboxId || !existsSync(join(dir, SNAPSHOT_PARTS.criu, 'inventory.img')) || existsSync(join(dir, SNAPSHOT_PARTS.sealedMarker))) continue;
    const row = await rowOf(sandboxId);
    if (!(await orphaned(row))) continue;
    log.warn({ sandbox: row!.name, entry }, 'a snapshot was cut short after its dump ended the processes: keeping them as the cold state');
    try {
      const cold = deps.coldDir(sandboxId);
      await rm(cold, { recursive: true, force: true });
      await mkdir(dirname(cold), { recursive: true });
      if (entry.endsWith('.staging')) {
        // A staging tmpfs: copied out of memory onto the disk, then unmounted.
        await cp(dir, cold, { recursive: true });
        await unmount(deps.host, dir);
        await rm(dir, { recursive: true, force: true });
      } else await rename(dir, cold);
    } catch (err) {
      log.error({ err, sandbox: row!.name }, 'could not keep the images of a cut-short snapshot');
      continue;
    }
    await runtime.release({ ...sandboxes.definition(row!), address: null });
    await sandboxes.setStatus(sandboxId, 'running', 'a snapshot was cut short by a daemon stop; its processes were kept on disk (cold) and wake on the next request', {
      thermal: 'cold',
    });
  }
}
