import type { SandboxStatsT } from '../../api/index.js';
import type { SandboxRuntime } from '../../runtime/index.js';
import type { SandboxRow } from '../db/tables.js';

interface Previous {
  atNs: bigint;
  cpuUsageNs: number;
  cpuPercent: number | null;
}

/** Two readers sampling the same sandbox moments apart would measure CPU over a few microseconds: below this, the last figure stands. */
const MIN_INTERVAL_NS = 100_000_000n;

/**
 * Resource use of local sandboxes, read from their cgroups. A warm sandbox
 * is read as it is (frozen: its memory still held, no CPU spent); a sandbox
 * with no processes (stopped, exited, cold on disk) reads as zeros with its
 * state, not as an error, so a dashboard can show every sandbox the same way.
 * Reading never counts as activity: it does not wake a sleeping sandbox.
 */
export class StatsService {
  /** The last sample of each sandbox: CPU % is the CPU time used since, over the time passed since. */
  private readonly previous = new Map<string, Previous>();

  constructor(private readonly runtime: SandboxRuntime) {}

  async sample(row: SandboxRow): Promise<SandboxStatsT> {
    const at = new Date().toISOString();
    const state = { at, status: row.status, thermal: row.thermal };
    if (row.status !== 'running' || row.thermal === 'cold') {
      this.previous.delete(row.id);
      return { ...state, cpuUsageNs: 0, cpuPercent: null, memoryBytes: 0, memoryLimitBytes: row.memory_mb === null ? null : row.memory_mb * 1024 * 1024, pids: 0 };
    }
    const cgroup = this.runtime.cgroup(row.id);
    const atNs = process.hrtime.bigint();
    const cpuUsageNs = await cgroup.cpuUsageNs();
    const before = this.previous.get(row.id);
    let cpuPercent: number | null;
    if (before && atNs - before.atNs < MIN_INTERVAL_NS) cpuPercent = before.cpuPercent;
    else {
      // A restart or a restore starts the counter again: no interval to measure over then.
      const elapsedNs = before ? Number(atNs - before.atNs) : 0;
      cpuPercent = before && cpuUsageNs >= before.cpuUsageNs ? Math.round(((cpuUsageNs - before.cpuUsageNs) / elapsedNs) * 1000) / 10 : null;
      this.previous.delete(row.id); // re-inserted last: the map's first entries are the least recently read
      this.previous.set(row.id, { atNs, cpuUsageNs, cpuPercent });
      if (this.previous.size > 10_000) this.previous.delete(this.previous.keys().next().value!);
    }
    const [memoryBytes, memoryLimitBytes, pids] = await Promise.all([cgroup.workingSetBytes(), cgroup.memoryLimitBytes(), cgroup.pids()]);
    return { ...state, cpuUsageNs, cpuPercent, memoryBytes, memoryLimitBytes, pids };
  }
}
