import { BothubError, misfit, pickHost, type GpuRequest, type PlacementCandidate, type PlacementRequest } from '../../core/index.js';
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

/** Why a host is no place for this sandbox whatever room it has (a rented one over its owner's price limit); undefined when it is. */
export type RefuseHost = (host: string) => Promise<string | undefined>;

/** A host the caller may not use: its reason, as the error of a placement that had no other choice. */
async function allowed(host: string, refuse: RefuseHost | undefined): Promise<string> {
  const why = await refuse?.(host);
  if (why) throw new BothubError('PRICE_CHANGED', why);
  return host;
}

type Listed = Awaited<ReturnType<HostService['list']>>[number];

function candidate(h: Listed, used: Awaited<ReturnType<typeof usage>>, refused: string | undefined): PlacementCandidate {
  return {
    refused,
    name: h.name,
    reachable: h.status === 'reachable',
    cpus: h.fingerprint.cpus ?? 1,
    memoryMb: Math.floor((h.fingerprint.memoryBytes ?? 0) / 1024 / 1024),
    gpus: h.fingerprint.gpu?.devices.length ?? 0,
    usedCpus: used.get(h.name)?.cpus ?? 0,
    usedMemoryMb: used.get(h.name)?.memoryMb ?? 0,
    usedGpus: used.get(h.name)?.gpus ?? 0,
  };
}

type Wanted = { cpus: number | null; memoryMb: number | null; gpus?: GpuRequest };

function requestOf(req: Wanted): PlacementRequest {
  const g = req.gpus;
  const gpus = g === undefined ? 0 : g.kind === 'all' ? 'all' : g.kind === 'uuids' ? g.uuids.length : g.count;
  return { cpus: req.cpus, memoryMb: req.memoryMb ?? QUOTA_DEFAULT_MEMORY_MB, gpus };
}

/** Why `host` has no room now for a sandbox asking this (what the records hold there against its fingerprint); empty when it has. */
export async function noRoomOn(db: Db, hosts: HostService, host: string, req: Wanted): Promise<string[]> {
  const [listed, used] = await Promise.all([hosts.list(), usage(db)]);
  const h = listed.find((x) => x.name === host);
  // Whether it answers is the caller's to check (and to say so): this is about room only.
  return h ? misfit({ ...candidate(h, used, undefined), reachable: true }, requestOf(req)) : [];
}

/**
 * The scheduler's inputs from the records and the fingerprints; its choice is core's pickHost.
 * `controlPlaneOnly`: this machine runs no sandboxes (several daemons): only fleet hosts are candidates.
 * `refuse`: hosts this sandbox may not go to (its owner's price limit), each with its reason.
 */
export async function placeSandbox(
  db: Db,
  hosts: HostService,
  req: Wanted,
  controlPlaneOnly = false,
  refuse?: RefuseHost,
): Promise<string> {
  const [listed, used] = await Promise.all([hosts.list(), usage(db)]);
  const all = controlPlaneOnly ? listed.filter((h) => h.name !== LOCAL_HOST) : listed;
  if (all.length === 0) throw new BothubError('INVALID_STATE', 'this daemon runs sandboxes on fleet hosts only (BOTHUB_CONTROL_PLANE_ONLY) and has none; add one (`POST /api/v1/hosts`)');
  // No fleet, no choice: this machine's own checks say precisely what does not fit.
  if (all.length === 1) return allowed(all[0]!.name, refuse);
  if (req.gpus?.kind === 'uuids') {
    // GPUs named by UUID name their host too.
    const first = req.gpus.uuids[0];
    const owner = all.find((h) => h.fingerprint.gpu?.devices.some((d) => d.uuid === first));
    if (!owner) throw new BothubError('NOT_FOUND', `no host has GPU ${first}; see \`nvidia-smi -L\` on the GPU host, or ask for a count in \`gpus\` (such as 1)`);
    return allowed(owner.name, refuse);
  }
  const refusals = new Map<string, string | undefined>(await Promise.all(all.map(async (h) => [h.name, await refuse?.(h.name)] as const)));
  const candidates = all.map((h) => candidate(h, used, refusals.get(h.name)));
  const request = requestOf(req);
  try {
    return pickHost(candidates, request);
  } catch (e) {
    // Room enough, but only on hosts its owner may not pay for: the price limit is the answer, as when a parked sandbox is placed.
    const priced = candidates.find((c) => c.refused && !misfit({ ...c, refused: undefined }, request).length);
    if (priced) throw new BothubError('PRICE_CHANGED', `${priced.refused}; no other host has room for it`);
    throw e;
  }
}
