import type { GpuInfo, HostFingerprint } from '../../core/index.js';
import type { Host } from '../../hostexec/index.js';
import { BOTHUB_CRIU } from './criu.js';

/**
 * Every probe in one fixed script, one section each: over SSH that is one
 * round trip (and one login) instead of a dozen. Tools a host lacks
 * (nvidia-smi on a CPU box) leave their section empty. $1: the CRIU binary,
 * $2: nvidia-smi.
 */
const PROBE = `
s() { echo "@@$1"; }
s cpuinfo; cat /proc/cpuinfo
s meminfo; cat /proc/meminfo
s kernel; uname -r
s arch; uname -m
s uid; id -u
s runc; runc --version 2>/dev/null
s df; df -B1 --output=avail /var/lib 2>/dev/null | tail -n 1
C="$1"; [ -n "$C" ] || { C=${BOTHUB_CRIU}; [ -x "$C" ] || C=criu; }
s criu; "$C" --version 2>/dev/null
s criucheck; { "$C" check 2>&1; echo "exit=$?"; } | grep -v 'kdat cache'
S="\${2:-nvidia-smi}"
s gpus; "$S" --query-gpu=index,name,uuid,memory.total,memory.used,driver_version --format=csv,noheader,nounits 2>/dev/null
s smi; "$S" 2>/dev/null | head -n 5
s topo; "$S" topo -m 2>/dev/null
true`;

function sections(out: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const part of out.split(/^@@/m).slice(1)) {
    const nl = part.indexOf('\n');
    result[part.slice(0, nl)] = part.slice(nl + 1);
  }
  return result;
}

function gpuInfo(s: Record<string, string>): GpuInfo | null {
  const rows = (s.gpus ?? '')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(',').map((c) => c.trim()));
  if (rows.length === 0) return null;
  return {
    driverVersion: rows[0]![5] ?? '',
    cudaVersion: /CUDA Version:\s*([\d.]+)/.exec(s.smi ?? '')?.[1] ?? '',
    devices: rows.map(([index, name, uuid, total, used]) => ({ index: Number(index), name: name!, uuid: uuid!, memoryMb: Number(total), memoryUsedMb: Number(used) })),
    topology: s.topo?.trim() || undefined,
  };
}

/** The host's NVIDIA GPUs now (memory in use included); null when it has none. */
export async function probeGpus(host: Host, nvidiaSmi = 'nvidia-smi'): Promise<GpuInfo | null> {
  const script = PROBE.slice(PROBE.indexOf('S="'), PROBE.indexOf('s topo'));
  return gpuInfo(sections((await host.run('sh', ['-c', `s() { echo "@@$1"; }\n${script}`, 'probe', '', nvidiaSmi])).stdout));
}

/**
 * What a host is, as far as restoring a snapshot there goes: recorded in every
 * snapshot, and for every fleet host. Runs on any Host (here or over SSH).
 */
export async function hostFingerprint(host: Host, criu?: string, nvidiaSmi = 'nvidia-smi'): Promise<HostFingerprint> {
  const s = sections((await host.run('sh', ['-c', PROBE, 'probe', criu ?? '', nvidiaSmi])).stdout);
  const cpuinfo = s.cpuinfo ?? '';
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim() ?? '';
  const nodeArch: Record<string, string> = { x86_64: 'x64', aarch64: 'arm64' };
  const arch = (s.arch ?? '').trim();
  const check = (s.criucheck ?? '').trim().split('\n');
  const checkOk = check.at(-1) === 'exit=0' && /Looks good/.test(s.criucheck ?? '');
  return {
    kernel: (s.kernel ?? '').trim(),
    arch: nodeArch[arch] ?? arch,
    cpuModel: field('model name'),
    cpuFlags: field('flags').split(/\s+/).filter(Boolean).sort(),
    criuVersion: /Version: (\S+)/.exec(s.criu ?? '')?.[1] ?? '',
    runcVersion: /runc version (\S+)/.exec(s.runc ?? '')?.[1] ?? 'missing',
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    memoryBytes: Number(/^MemTotal:\s*(\d+) kB/m.exec(s.meminfo ?? '')?.[1] ?? 0) * 1024,
    diskFreeBytes: Number((s.df ?? '').trim()) || 0,
    root: (s.uid ?? '').trim() === '0',
    criuCheck: checkOk ? 'ok' : check.filter((l) => !l.startsWith('exit=')).slice(-1)[0] || 'criu is not installed',
    gpu: gpuInfo(s),
  };
}
