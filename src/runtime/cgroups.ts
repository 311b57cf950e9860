import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';

/**
 * Reads what the kernel counted for a sandbox's cgroup. Works on the v1
 * hierarchy (this machine) and on the unified v2 one.
 */
export class CgroupReader {
  private readonly v2 = !existsSync('/sys/fs/cgroup/memory');

  constructor(private readonly cgroupsPath: string) {}

  private file(controller: string, name: string): string {
    return this.v2 ? `/sys/fs/cgroup${this.cgroupsPath}/${name}` : `/sys/fs/cgroup/${controller}${this.cgroupsPath}/${name}`;
  }

  /** How many times the OOM killer ended a process of this sandbox. */
  async oomKills(): Promise<number> {
    const text = await readFile(this.v2 ? this.file('', 'memory.events') : this.file('memory', 'memory.oom_control'), 'utf8').catch(() => '');
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  async memoryBytes(): Promise<number> {
    const text = await readFile(this.v2 ? this.file('', 'memory.current') : this.file('memory', 'memory.usage_in_bytes'), 'utf8').catch(() => '0');
    return Number(text.trim()) || 0;
  }

  async pids(): Promise<number> {
    const text = await readFile(this.file('pids', 'pids.current'), 'utf8').catch(() => '0');
    return Number(text.trim()) || 0;
  }
}
