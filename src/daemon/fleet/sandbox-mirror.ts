import type { SandboxT } from '../../api/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRecords } from '../services/sandbox-records.js';
import { DESTROY_CUT_SHORT } from '../services/sandbox-reconciler.js';

/**
 * What a host's agent reported at its heartbeat, mirrored into the records
 * here; sandboxes it no longer knows are marked so, never dropped.
 */
export async function mirrorAgentSandboxes(db: Db, records: SandboxRecords, host: string, there: SandboxT[]): Promise<void> {
  const byName = new Map(there.map((s) => [s.name, s]));
  const rows = await db.selectFrom('sandboxes').selectAll().where('host', '=', host).execute();
  for (const row of rows) {
    // Being destroyed: the agent dropping it is the destroy's progress, finished by the destroy or the next start.
    if (row.status === 'moving' || row.status === 'creating' || row.status_reason === DESTROY_CUT_SHORT) continue;
    const s = byName.get(row.name);
    if (s) {
      const changed = s.status !== row.status || s.thermal !== row.thermal || s.address !== row.address || s.statusReason !== row.status_reason;
      if (changed || JSON.stringify(s.gpus) !== row.gpu_uuids_json) await records.follow(row.id, s);
    } else if (row.status !== 'error') {
      await records.setStatus(row.id, 'error', `host "${host}"'s agent no longer has this sandbox; destroy it (\`DELETE /api/v1/sandboxes/${row.name}\`)`);
    }
  }
}
