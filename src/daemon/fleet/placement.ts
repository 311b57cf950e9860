import { BothubError, pickHost, type GpuRequest, type PlacementCandidate } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { LOCAL_HOST, type HostService } from './host-service.js';
import { holdsGpus, QUOTA_DEFAULT_MEMORY_MB } from '../services/quota.js';

/** What the sandboxes on record hold per host (a sandbox without --memory counts as the quota default). */
async function usage(db: Db): Promise<Map<string, { cpus: number; memoryMb: number; gpus: number }>> {
  const rows = await db.selectFrom('sandboxes').select(['host', 'cpus', 'memory_mb', 'gpus', 'status', 'thermal']).execute();
  const used = new Map<string, { cpus: number; memoryMb: number; gpus: number }>();
  for (const r of rows) {
    const u = used.get(r.host) ?? { cpus: 0, memoryMb: 0, gpus: 0 };
    u.cpus += r.cpus ?? 0;
    u.memoryMb += r.memory_mb ?? QUOTA_DEFAULT_MEMORY_MB;
    if (holdsGpus(r)) u.gpus += r.gpus;
    used.set(r.host, u);
  }
  return used;
}

/**
 * The scheduler's inputs from the records and the fingerprints; its choice is core's pickHost.
 * `controlPlaneOnly`: this machine runs no sandboxes (several daemons): only fleet hosts are candidates.
 */
export async function placeSandbox(db: Db, hosts: HostService, req: { cpus: number | null; memoryMb: number | null; gpus?: GpuRequest }, controlPlaneOnly = false): Promise<string> {
  const [listed, used] = await Promise.all([hosts.list(), usage(db)]);
  const all = controlPlaneOnly ? listed.filter((h) => h.name !== LOCAL_HOST) : listed;
  if (all.length === 0) throw new BothubError('INVALID_STATE', 'this daemon runs sandboxes on fleet hosts only (BOTHUB_CONTROL_PLANE_ONLY) and has none; add one (`POST /api/v1/hosts`)');
  // No fleet, no choice: this machine's own checks say precisely what does not fit.
  if (all.length === 1) return all[0]!.name;
  if (req.gpus?.kind === 'uuids') {
    // GPUs named by UUID name their host too.
    const first = req.gpus.uuids[0];
    const owner = all.find((h) => h.fingerprint.gpu?.devices.some((d) => d.uuid === first));
    if (!owner) throw new BothubError('NOT_FOUND', `no host has GPU ${first}; see \`nvidia-smi -L\` on the GPU host, or ask for a count with --gpus N`);
    return owner.name;
  }
  const candidates: PlacementCandidate[] = all.map((h) => ({
    name: h.name,
    reachable: h.status === 'reachable',
    cpus: h.fingerprint.cpus ?? 1,
    memoryMb: Math.floor((h.fingerprint.memoryBytes ?? 0) / 1024 / 1024),
    gpus: h.fingerprint.gpu?.devices.length ?? 0,
    usedCpus: used.get(h.name)?.cpus ?? 0,
    usedMemoryMb: used.get(h.name)?.memoryMb ?? 0,
    usedGpus: used.get(h.name)?.gpus ?? 0,
  }));
  const gpus = req.gpus === undefined ? 0 : req.gpus.kind === 'all' ? 'all' : req.gpus.count;
  return pickHost(candidates, { cpus: req.cpus, memoryMb: req.memoryMb ?? QUOTA_DEFAULT_MEMORY_MB, gpus });
}
