import type { Host } from '../hostexec/index.js';
import { CPU_PERIOD_US, cpuQuotaUs } from './oci-spec.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';

const versions = new WeakMap<Host, Promise<boolean>>();

/** Whether a host has the unified (v2) hierarchy; v1 has a tree per controller. Asked once per host. */
export function isCgroupV2(host: Host): Promise<boolean> {
  let v2 = versions.get(host);
  if (!v2) versions.set(host, (v2 = host.exists(`${CGROUP_ROOT}/memory`).then((v1) => !v1)));
  return v2;
}

/**
 * Reads what the kernel counted for a sandbox's cgroup. Works on the v1
 * hierarchy (this machine) and on the unified v2 one.
 */
export class CgroupReader {
  constructor(
    private readonly host: Host,
    private readonly cgroupsPath: string,
  ) {}

  /** The file of v2's single tree, or `controller/name` of that controller's v1 tree. */
  private async file(v1: string, v2: string): Promise<string> {
    if (await isCgroupV2(this.host)) return `${CGROUP_ROOT}${this.cgroupsPath}/${v2}`;
    const [controller, name] = v1.split('/');
    return `${CGROUP_ROOT}/${controller}${this.cgroupsPath}/${name}`;
  }

  /** A cgroup file's text; `fallback` when there is none (the sandbox is gone). */
  private async read(v1: string, v2: string, fallback: string): Promise<string> {
    return this.host.readTextFile(await this.file(v1, v2)).catch(() => fallback);
  }

  /**
   * Freezes or thaws every process of the sandbox by writing the freezer
   * directly: microseconds, where `runc pause` costs a process start.
   */
  async setFrozen(frozen: boolean): Promise<void> {
    const v2 = await isCgroupV2(this.host);
    const file = await this.file('freezer/freezer.state', 'cgroup.freeze');
    await this.host.writeFile(file, v2 ? (frozen ? '1' : '0') : frozen ? 'FROZEN' : 'THAWED');
    const want = v2 ? (frozen ? /^frozen 1$/m : /^frozen 0$/m) : frozen ? /^FROZEN/ : /^THAWED/;
    const probe = v2 ? await this.file('', 'cgroup.events') : file;
    for (let i = 0; i < 2000 && !want.test(await this.host.readTextFile(probe).catch(() => '')); i++) await new Promise((r) => setImmediate(r));
  }

  /**
   * Sets the CPU limit (null: none). Killed processes still need CPU time to
   * exit, and a fork bomb under a quota keeps a thousand of them throttled
   * with SIGKILL pending for minutes: whoever kills lifts the quota first.
   */
  async setCpuLimit(cpus: number | null): Promise<void> {
    const value = (await isCgroupV2(this.host)) ? `${cpus === null ? 'max' : cpuQuotaUs(cpus)} ${CPU_PERIOD_US}` : String(cpus === null ? -1 : cpuQuotaUs(cpus));
    await this.host.writeFile(await this.file('cpu/cpu.cfs_quota_us', 'cpu.max'), value);
  }

  /** How many times the OOM killer ended a process of this sandbox. */
  async oomKills(): Promise<number> {
    const m = /^oom_kill (\d+)$/m.exec(await this.read('memory/memory.oom_control', 'memory.events', ''));
    return m ? Number(m[1]) : 0;
  }

  async memoryBytes(): Promise<number> {
    return Number((await this.read('memory/memory.usage_in_bytes', 'memory.current', '0')).trim()) || 0;
  }

  /** CPU time all its processes used since the cgroup was made, in ns. */
  async cpuUsageNs(): Promise<number> {
    if (!(await isCgroupV2(this.host))) return Number((await this.read('cpuacct/cpuacct.usage', '', '0')).trim()) || 0;
    const m = /^usage_usec (\d+)$/m.exec(await this.read('', 'cpu.stat', ''));
    return m ? Number(m[1]) * 1000 : 0;
  }

  /**
   * The working set: memory charged to the sandbox less the inactive file
   * cache, which the kernel reclaims first when the limit nears (what
   * cAdvisor and kubelet report). RSS alone would miss tmpfs and shared
   * memory, which count against the limit and cannot be dropped; "usage
   * minus cache" misses them too, as they are accounted as cache.
   */
  async workingSetBytes(): Promise<number> {
    const [usage, stat, v2] = await Promise.all([this.memoryBytes(), this.read('memory/memory.stat', 'memory.stat', ''), isCgroupV2(this.host)]);
    const m = (v2 ? /^inactive_file (\d+)$/m : /^total_inactive_file (\d+)$/m).exec(stat);
    const inactive = m ? Number(m[1]) : 0;
    return Math.max(0, usage - inactive);
  }

  /** The memory limit in bytes; null when there is none (v1 writes "none" as a huge number). */
  async memoryLimitBytes(): Promise<number | null> {
    const text = (await this.read('memory/memory.limit_in_bytes', 'memory.max', 'max')).trim();
    const n = Number(text);
    return text === 'max' || !Number.isFinite(n) || n >= 2 ** 62 ? null : n;
  }

  /** Every process of the sandbox, by its PID on the host. */
  async processes(): Promise<number[]> {
    return (await this.read('pids/cgroup.procs', 'cgroup.procs', '')).split('\n').filter(Boolean).map(Number);
  }

  async pids(): Promise<number> {
    return Number((await this.read('pids/pids.current', 'pids.current', '0')).trim()) || 0;
  }
}
