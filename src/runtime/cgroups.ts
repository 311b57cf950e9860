import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CPU_PERIOD_US, cpuQuotaUs } from './oci-spec.js';

const IS_V2 = !existsSync('/sys/fs/cgroup/memory');

/** cgroup files are tiny kernel files: a sync read is cheaper than a thread-pool hop. */
const read = (file: string, fallback: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
};

/**
 * Reads what the kernel counted for a sandbox's cgroup. Works on the v1
 * hierarchy (this machine) and on the unified v2 one.
 */
export class CgroupReader {
  private readonly v2 = IS_V2;

  constructor(private readonly cgroupsPath: string) {}

  private file(controller: string, name: string): string {
    return this.v2 ? `/sys/fs/cgroup${this.cgroupsPath}/${name}` : `/sys/fs/cgroup/${controller}${this.cgroupsPath}/${name}`;
  }

  /**
   * Freezes or thaws every process of the sandbox by writing the freezer
   * directly: microseconds, where `runc pause` costs a process start.
   */
  async setFrozen(frozen: boolean): Promise<void> {
    const file = this.v2 ? this.file('', 'cgroup.freeze') : this.file('freezer', 'freezer.state');
    writeFileSync(file, this.v2 ? (frozen ? '1' : '0') : frozen ? 'FROZEN' : 'THAWED');
    const want = this.v2 ? (frozen ? /^frozen 1$/m : /^frozen 0$/m) : frozen ? /^FROZEN/ : /^THAWED/;
    const probe = this.v2 ? this.file('', 'cgroup.events') : file;
    for (let i = 0; i < 2000 && !want.test(read(probe, '')); i++) await new Promise((r) => setImmediate(r));
  }

  /**
   * Sets the CPU limit (null: none). Killed processes still need CPU time to
   * exit, and a fork bomb under a quota keeps a thousand of them throttled
   * with SIGKILL pending for minutes: whoever kills lifts the quota first.
   */
  setCpuLimit(cpus: number | null): void {
    if (this.v2) writeFileSync(this.file('', 'cpu.max'), `${cpus === null ? 'max' : cpuQuotaUs(cpus)} ${CPU_PERIOD_US}`);
    else writeFileSync(this.file('cpu', 'cpu.cfs_quota_us'), String(cpus === null ? -1 : cpuQuotaUs(cpus)));
  }

  /** How many times the OOM killer ended a process of this sandbox. */
  oomKills(): number {
    const text = read(this.v2 ? this.file('', 'memory.events') : this.file('memory', 'memory.oom_control'), '');
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  memoryBytes(): number {
    const text = read(this.v2 ? this.file('', 'memory.current') : this.file('memory', 'memory.usage_in_bytes'), '0');
    return Number(text.trim()) || 0;
  }

  /** CPU time all its processes used since the cgroup was made, in ns. */
  cpuUsageNs(): number {
    if (!this.v2) return Number(read(this.file('cpuacct', 'cpuacct.usage'), '0').trim()) || 0;
    const m = /^usage_usec (\d+)$/m.exec(read(this.file('', 'cpu.stat'), ''));
    return m ? Number(m[1]) * 1000 : 0;
  }

  /**
   * The working set: memory charged to the sandbox less the inactive file
   * cache, which the kernel reclaims first when the limit nears (what
   * cAdvisor and kubelet report). RSS alone would miss tmpfs and shared
   * memory, which count against the limit and cannot be dropped; "usage
   * minus cache" misses them too, as they are accounted as cache.
   */
  workingSetBytes(): number {
    const usage = this.memoryBytes();
    const stat = read(this.v2 ? this.file('', 'memory.stat') : this.file('memory', 'memory.stat'), '');
    const m = (this.v2 ? /^inactive_file (\d+)$/m : /^total_inactive_file (\d+)$/m).exec(stat);
    const inactive = m ? Number(m[1]) : 0;
    return Math.max(0, usage - inactive);
  }

  /** The memory limit in bytes; null when there is none (v1 writes "none" as a huge number). */
  memoryLimitBytes(): number | null {
    const text = read(this.v2 ? this.file('', 'memory.max') : this.file('memory', 'memory.limit_in_bytes'), 'max').trim();
    const n = Number(text);
    return text === 'max' || !Number.isFinite(n) || n >= 2 ** 62 ? null : n;
  }

  /** Every process of the sandbox, by its PID on the host. */
  processes(): number[] {
    return read(this.file('pids', 'cgroup.procs'), '').split('\n').filter(Boolean).map(Number);
  }

  pids(): number {
    const text = read(this.file('pids', 'pids.current'), '0');
    return Number(text.trim()) || 0;
  }
}
