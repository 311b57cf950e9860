import { pickHost, type PlacementCandidate } from '../../core/index.js';
import type { Db } from '../db/database.js';
import type { HostService } from '../services/host-service.js';
import { QUOTA_DEFAULT_MEMORY_MB } from '../services/sandbox-service.js';

/** What the sandboxes on record hold per host (a sandbox without --memory counts as the quota default). */
async function usage(db: Db): Promise<Map<string, { cpus: number; memoryMb: number }>> {
  const rows = await db.selectFrom('sandboxes').select(['host', 'cpus', 'memory_mb']).execute();
  const used = new Map<string, { cpus: number; memoryMb: number }>();
  for (const r of rows) {
    const u = used.get(r.host) ?? { cpus: 0, memoryMb: 0 };
    u.cpus += r.cpus ?? 0;
    u.memoryMb += r.memory_mb ?? QUOTA_DEFAULT_MEMORY_MB;
    used.set(r.host, u);
  }
  return used;
}

/** The scheduler's inputs from the records and the fingerprints; its choice is core's pickHost. */
export async function placeSandbox(db: Db, hosts: HostService, req: { cpus: number | null; memoryMb: number | null }): Promise<string> {
  const [all, used] = await Promise.all([hosts.list(), usage(db)]);
  // No fleet, no choice: this machine's own checks say precisely what does not fit.
  if (all.length === 1) return all[0]!.name;
  const candidates: PlacementCandidate[] = all.map((h) => ({
    name: h.name,
    reachable: h.status === 'reachable',
    cpus: h.fingerprint.cpus ?? 1,
    memoryMb: Math.floor((h.fingerprint.memoryBytes ?? 0) / 1024 / 1024),
    gpus: h.fingerprint.gpu?.devices.length ?? 0,
    usedCpus: used.get(h.name)?.cpus ?? 0,
    usedMemoryMb: used.get(h.name)?.memoryMb ?? 0,
    usedGpus: 0,
  }));
  return pickHost(candidates, { cpus: req.cpus, memoryMb: req.memoryMb ?? QUOTA_DEFAULT_MEMORY_MB, gpus: 0 });
}
