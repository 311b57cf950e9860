import type { Host } from '../../hostexec/index.js';

/** A process of a sandbox: its PID on the host, and inside the sandbox's PID namespace (which CRIU keeps). */
export interface SandboxProcess {
  pid: number;
  nsPid: number;
}

/** The innermost PID of a host PID (the last of /proc/PID/status's NSpid). */
async function nsPidOf(host: Host, pid: number): Promise<number | undefined> {
  const status = await host.readTextFile(`/proc/${pid}/status`).catch(() => '');
  const last = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).at(-1);
  return last ? Number(last) : undefined;
}

/** cuInit opens /dev/nvidiactl and keeps it open: a process holding an NVIDIA device has CUDA state. */
async function holdsNvidiaDevice(host: Host, pid: number): Promise<boolean> {
  const fds = await host.readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) if ((await host.readlink(`/proc/${pid}/fd/${fd.name}`).catch(() => '')).startsWith('/dev/nvidia')) return true;
  return false;
}

/**
 * The processes among `pids` (a sandbox's, as CgroupReader.processes gives
 * them) that use a GPU, read from `host`'s /proc.
 */
export async function findGpuProcesses(pids: readonly number[] | Promise<readonly number[]>, host: Host): Promise<SandboxProcess[]> {
  const found: SandboxProcess[] = [];
  for (const pid of await pids) {
    if (!(await holdsNvidiaDevice(host, pid))) continue;
    const nsPid = await nsPidOf(host, pid);
    if (nsPid !== undefined) found.push({ pid, nsPid });
  }
  return found;
}

/**
 * The host PIDs of restored processes: CRIU gives them their PIDs inside the
 * sandbox back, while their host PIDs are new. A missing one is an error.
 */
export async function hostPidsOf(pids: readonly number[] | Promise<readonly number[]>, nsPids: readonly number[], host: Host): Promise<number[]> {
  const byNs = new Map<number, number>();
  for (const pid of await pids) {
    const ns = await nsPidOf(host, pid);
    if (ns !== undefined) byNs.set(ns, pid);
  }
  return nsPids.map((ns) => {
    const pid = byNs.get(ns);
    if (pid === undefined) throw new Error(`GPU process ${ns} of the snapshot was not restored`);
    return pid;
  });
}

/** Device memory each process uses, in MiB, summed per GPU UUID (`nvidia-smi --query-compute-apps`). */
export async function gpuMemoryUsedMb(host: Host, nvidiaSmi: string, pids: readonly number[]): Promise<Map<string, number>> {
  const out = await host.run(nvidiaSmi, ['--query-compute-apps=pid,gpu_uuid,used_memory', '--format=csv,noheader,nounits'], { allowFailure: true });
  const used = new Map<string, number>();
  for (const line of out.stdout.split('\n')) {
    const [pid, uuid, mb] = line.split(',').map((c) => c.trim());
    if (uuid && pids.includes(Number(pid))) used.set(uuid, (used.get(uuid) ?? 0) + (Number(mb) || 0));
  }
  return used;
}
