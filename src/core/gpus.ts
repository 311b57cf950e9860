import type { GpuNeeds } from './compat.js';
import type { GpuDevice, GpuInfo } from './fingerprint.js';
import { BothubError, invalid } from './errors.js';

/** What `--gpus` asks for: every GPU of the host, a number of them, or these ones by UUID. */
export type GpuRequest = { kind: 'all' } | { kind: 'count'; count: number } | { kind: 'uuids'; uuids: string[] };

/** A GPU to restore onto instead of the one a process was checkpointed on (same model). */
export interface UuidPair {
  from: string;
  to: string;
}

const UUID = /^(GPU|MIG)-[0-9a-fA-F-]{8,}$/;
export const MAX_GPUS = 64;

export function parseGpuRequest(text: string): GpuRequest {
  const s = text.trim();
  if (s === 'all') return { kind: 'all' };
  if (/^\d+$/.test(s)) {
    const count = Number(s);
    if (count < 1 || count > MAX_GPUS) throw invalid(`invalid \`gpus\` ${s}: ask for 1 to ${MAX_GPUS} GPUs, or leave \`gpus\` out for none`);
    return { kind: 'count', count };
  }
  const uuids = s.split(',').map((u) => u.trim());
  const bad = uuids.find((u) => !UUID.test(u));
  if (bad !== undefined || new Set(uuids).size !== uuids.length)
    throw invalid(`invalid \`gpus\` "${text}": use all, a count such as 2, or GPU UUIDs as \`nvidia-smi -L\` prints them (GPU-…), comma-separated and each once`);
  return { kind: 'uuids', uuids };
}

export interface GpuChoice {
  /** UUIDs other sandboxes of the host hold now. */
  held: ReadonlySet<string>;
  /** GPUs the sandbox held before (it is waking or coming back): taken again when free. */
  prefer?: readonly string[];
  /** Only GPUs of this model will do (its processes' GPU state was checkpointed on one). */
  model?: string;
}

const NO_GPU = 'this host has no NVIDIA GPU (nvidia-smi lists none); leave `gpus` out, or create the sandbox on a GPU host (name it in `host`)';

/**
 * Picks the GPUs a sandbox gets, by UUID. A GPU belongs to one sandbox at a
 * time, so two sandboxes never share device memory or its checkpoint.
 */
export function allocateGpus(request: GpuRequest, devices: readonly GpuDevice[], choice: GpuChoice): string[] {
  if (devices.length === 0) throw new BothubError('LIMIT_EXCEEDED', NO_GPU);
  const free = devices.filter((d) => !choice.held.has(d.uuid));
  if (request.kind === 'uuids') {
    for (const uuid of request.uuids) {
      if (!devices.some((d) => d.uuid === uuid))
        throw new BothubError('NOT_FOUND', `this host has no GPU ${uuid}; its GPUs are ${devices.map((d) => d.uuid).join(', ')} (see \`nvidia-smi -L\` there)`);
      if (choice.held.has(uuid)) throw new BothubError('IN_USE', `GPU ${uuid} is held by another sandbox; pick another, or ask for a count in \`gpus\` (such as 1)`);
    }
    return [...request.uuids];
  }
  if (request.kind === 'all') {
    if (free.length < devices.length)
      throw new BothubError(
        'IN_USE',
        `\`gpus\` all needs every GPU of this host and ${devices.length - free.length} of ${devices.length} are held by other sandboxes; ask for a count in \`gpus\` (such as 1)`,
      );
    return devices.map((d) => d.uuid);
  }
  if (request.count > devices.length) throw new BothubError('LIMIT_EXCEEDED', `this host has ${devices.length} GPU(s) and ${request.count} were asked for; ask for fewer`);
  const fit = free.filter((d) => choice.model === undefined || d.name === choice.model);
  // The GPUs it had first, so a wake on the same host needs no remapping; then in index order.
  const preferred = new Set(choice.prefer ?? []);
  const ordered = [...fit.filter((d) => preferred.has(d.uuid)), ...fit.filter((d) => !preferred.has(d.uuid))];
  if (ordered.length < request.count) {
    const what = choice.model ? `${choice.model} GPUs` : 'GPUs';
    throw new BothubError('LIMIT_EXCEEDED', `${request.count} ${what} are needed and ${ordered.length} are free on this host; stop or destroy a GPU sandbox, or try another host`);
  }
  return ordered.slice(0, request.count).map((d) => d.uuid);
}

/**
 * The UUID pairs a CUDA restore needs when the GPUs are other ones than at the
 * checkpoint: none when they are the same, else every GPU (the driver wants
 * all of them once any is remapped).
 */
export function remapPairs(from: readonly string[], to: readonly string[]): UuidPair[] {
  if (from.length !== to.length) throw new BothubError('INTERNAL', `GPU state of ${from.length} GPU(s) cannot be restored onto ${to.length}`);
  return from.every((f, i) => f === to[i]) ? [] : from.map((f, i) => ({ from: f, to: to[i]! }));
}

/** What restoring a GPU sandbox's state needs of a host: the gate compares this to the host's GPUs. */
export function gpuNeedsOf(gpu: GpuInfo | null | undefined, uuids: readonly string[], memoryMb: number): GpuNeeds | undefined {
  if (uuids.length === 0) return undefined;
  const model = gpu?.devices.find((d) => d.uuid === uuids[0])?.name ?? 'unknown';
  return { driverVersion: gpu?.driverVersion ?? '', cudaVersion: gpu?.cudaVersion ?? '', model, count: uuids.length, memoryMb };
}
