/**
 * The compatibility gate: can a snapshot taken on one host be restored on
 * another? Pure: it compares two fingerprints and returns every reason not to.
 */
export interface HostFingerprint {
  kernel: string;
  arch: string;
  cpuModel: string;
  cpuFlags: string[];
  criuVersion: string;
  runcVersion: string;
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

export function checkCompatibility(snapshot: HostFingerprint, host: HostFingerprint): GateVerdict {
  const reasons: string[] = [];
  if (snapshot.arch !== host.arch) reasons.push(`architecture differs: snapshot ${snapshot.arch}, host ${host.arch}`);
  const hostFlags = new Set(host.cpuFlags);
  const missing = snapshot.cpuFlags.filter((f) => !IGNORED_FLAGS.has(f) && !hostFlags.has(f));
  if (missing.length)
    reasons.push(`host CPU lacks flags the snapshot's processes may use: ${missing.slice(0, 12).join(', ')}${missing.length > 12 ? ` (+${missing.length - 12} more)` : ''}`);
  if (!(major(host.criuVersion) >= 4)) reasons.push(`host CRIU ${host.criuVersion || 'missing'} cannot restore (need 4.0 or newer); run scripts/install-criu there`);
  else if (major(host.criuVersion) < major(snapshot.criuVersion))
    reasons.push(`host CRIU ${host.criuVersion} is older than the CRIU ${snapshot.criuVersion} that wrote the snapshot`);
  if (major(snapshot.kernel) !== major(host.kernel)) reasons.push(`kernel major version differs: snapshot ${snapshot.kernel}, host ${host.kernel}`);
  return { compatible: reasons.length === 0, reasons };
}
