import type { GpuInfo, HostFingerprint } from './fingerprint.js';

/**
 * The compatibility gate: can a snapshot taken on one host be restored on
 * another? Pure: it compares two fingerprints and returns every reason not to.
 */

/** What a GPU snapshot holds: the restore needs the same kind of GPUs. */
export interface GpuNeeds {
  driverVersion: string;
  cudaVersion: string;
  model: string;
  count: number;
  /** Device memory the snapshot's processes used, per GPU. */
  memoryMb: number;
}

export interface GateVerdict {
  compatible: boolean;
  reasons: string[];
}

const major = (v: string) => Number(/^(\d+)/.exec(v)?.[1] ?? NaN);

/** CPU features a restored process may already have chosen code paths for. */
const IGNORED_FLAGS = new Set([
  'hypervisor',
  'constant_tsc',
  'nonstop_tsc',
  'tsc_known_freq',
  'rep_good',
  'nopl',
  'xtopology',
  'cpuid',
  'tsc_reliable',
  'pti',
  'ssbd',
  'ibrs',
  'ibpb',
  'stibp',
  'ibrs_enhanced',
  'md_clear',
  'flush_l1d',
  'arch_capabilities',
]);

export function checkCompatibility(snapshot: HostFingerprint, host: HostFingerprint, needs: { gpu?: GpuNeeds } = {}): GateVerdict {
  const reasons: string[] = [];
  if (host.root === false) reasons.push('bothub does not run as root on the host (sandboxes need root: runc, mounts, namespaces)');
  if (host.criuCheck !== undefined && host.criuCheck !== 'ok') reasons.push(`\`criu check\` fails on the host: ${host.criuCheck}`);
  if (snapshot.arch !== host.arch) reasons.push(`architecture differs: snapshot ${snapshot.arch}, host ${host.arch}`);
  const hostFlags = new Set(host.cpuFlags);
  const missing = snapshot.cpuFlags.filter((f) => !IGNORED_FLAGS.has(f) && !hostFlags.has(f));
  if (missing.length)
    reasons.push(`host CPU lacks flags the snapshot's processes may use: ${missing.slice(0, 12).join(', ')}${missing.length > 12 ? ` (+${missing.length - 12} more)` : ''}`);
  if (!(major(host.criuVersion) >= 4)) reasons.push(`host CRIU ${host.criuVersion || 'missing'} cannot restore (need 4.0 or newer); run scripts/install-criu there`);
  else if (major(host.criuVersion) < major(snapshot.criuVersion))
    reasons.push(`host CRIU ${host.criuVersion} is older than the CRIU ${snapshot.criuVersion} that wrote the snapshot`);
  if (major(snapshot.kernel) !== major(host.kernel)) reasons.push(`kernel major version differs: snapshot ${snapshot.kernel}, host ${host.kernel}`);
  if (needs.gpu) reasons.push(...gpuReasons(needs.gpu, host.gpu ?? null));
  return { compatible: reasons.length === 0, reasons };
}

/** A GPU snapshot restores only onto the same driver, CUDA, model and count, with room in device memory. */
function gpuReasons(need: GpuNeeds, gpu: GpuInfo | null): string[] {
  if (!gpu || gpu.devices.length === 0) return [`the snapshot holds GPU state (${need.count}× ${need.model}) and the host has no NVIDIA GPU`];
  const reasons: string[] = [];
  if (gpu.driverVersion !== need.driverVersion) reasons.push(`NVIDIA driver differs: snapshot ${need.driverVersion}, host ${gpu.driverVersion}`);
  if (gpu.cudaVersion !== need.cudaVersion) reasons.push(`CUDA version differs: snapshot ${need.cudaVersion}, host ${gpu.cudaVersion}`);
  const same = gpu.devices.filter((d) => d.name === need.model);
  if (same.length === 0) reasons.push(`GPU model differs: snapshot ${need.model}, host ${[...new Set(gpu.devices.map((d) => d.name))].join(', ')}`);
  else if (same.length < need.count) reasons.push(`the snapshot needs ${need.count}× ${need.model}; the host has ${same.length}`);
  else {
    const roomy = same.filter((d) => d.memoryMb - d.memoryUsedMb >= need.memoryMb);
    if (roomy.length < need.count) reasons.push(`not enough free GPU memory: ${need.count} GPU(s) with ${need.memoryMb} MiB free needed, ${roomy.length} have it`);
  }
  return reasons;
}
