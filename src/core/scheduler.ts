import { BothubError } from './errors.js';

/** A host as the scheduler sees it: what it has, and what its sandboxes already hold. */
export interface PlacementCandidate {
  name: string;
  reachable: boolean;
  cpus: number;
  memoryMb: number;
  gpus: number;
  usedCpus: number;
  usedMemoryMb: number;
  usedGpus: number;
  /** Why this host is not for this sandbox whatever room it has (a rented host over its owner's price limit). */
  refused?: string;
}

export interface PlacementRequest {
  cpus: number | null;
  memoryMb: number;
  /** 'all': every GPU of the host, so only a host whose GPUs are all free fits. */
  gpus: number | 'all';
}

/** Why a host cannot take the request; empty when it can. */
export function misfit(c: PlacementCandidate, r: PlacementRequest): string[] {
  const why: string[] = [];
  if (c.refused) why.push(c.refused);
  if (!c.reachable) why.push('unreachable');
  if (r.cpus !== null && c.usedCpus + r.cpus > c.cpus) why.push(`${c.cpus - c.usedCpus} of ${c.cpus} CPUs free`);
  if (c.usedMemoryMb + r.memoryMb > c.memoryMb) why.push(`${Math.max(0, c.memoryMb - c.usedMemoryMb)} MB of ${c.memoryMb} MB free`);
  const gpus = r.gpus === 'all' ? Math.max(1, c.gpus) : r.gpus;
  if (gpus > 0 && c.usedGpus + gpus > c.gpus) why.push(c.gpus ? `${c.gpus - c.usedGpus} of ${c.gpus} GPUs free` : 'no GPU');
  return why;
}

/**
 * Picks where a new sandbox runs: among the hosts it fits on, the one with the
 * most memory left after it (spreading load); ties go to the earlier host,
 * so the daemon's own machine wins when all else is equal. No fit: every
 * host's reason, in one error.
 */
export function pickHost(candidates: readonly PlacementCandidate[], request: PlacementRequest): string {
  let best: { name: string; left: number } | undefined;
  for (const c of candidates) {
    if (misfit(c, request).length) continue;
    const left = c.memoryMb - c.usedMemoryMb - request.memoryMb;
    if (!best || left > best.left) best = { name: c.name, left };
  }
  if (best) return best.name;
  const reasons = candidates.map((c) => `${c.name}: ${misfit(c, request).join(', ')}`).join('; ');
  throw new BothubError('LIMIT_EXCEEDED', `no host can take this sandbox (${reasons}); ask for less, free some room, or add a host (\`POST /api/v1/hosts\`)`);
}
