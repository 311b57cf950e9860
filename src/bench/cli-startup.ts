import { BIN, cliEnv, type DaemonProcess } from './daemon-process.js';
import { costOfProcess, type ProcessCost } from './processes.js';
import { compareHeader, compareRow } from './stats.js';

/**
 * What a command costs as a whole process, against Node's own start on the
 * same machine in the same run (`node -e 0`), interleaved so that load from
 * elsewhere falls on all three alike: wall time, and CPU time, which a busy
 * machine disturbs less.
 */
export async function benchCliStartup(t: DaemonProcess, runs: number): Promise<string[]> {
  const env = cliEnv(t);
  await t.api.call('createSandbox', { body: { name: 'cli' } });
  const node: ProcessCost[] = [];
  const version: ProcessCost[] = [];
  const exec: ProcessCost[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const n = await costOfProcess(process.execPath, ['-e', '0'], env);
    const v = await costOfProcess(process.execPath, [BIN, '--version'], env);
    const e = await costOfProcess(process.execPath, [BIN, 'exec', 'cli', '--', 'true'], env);
    if (i < 3) continue; // warm-up: page cache, the route-paths file
    node.push(n);
    version.push(v);
    exec.push(e);
  }
  await t.api.call('destroySandbox', { params: { name: 'cli' } });
  const wall = (s: ProcessCost[]) => s.map((c) => c.ms);
  const cpu = (s: ProcessCost[]) => s.map((c) => c.cpuMs);
  return [
    compareHeader('bothub', 'node -e 0'),
    compareRow('bothub --version', wall(version), wall(node), 'target ≤ 1.1×'),
    compareRow('bothub exec NAME -- true', wall(exec), wall(node), 'target ≤ 1.3×'),
    compareRow('  CPU time, --version', cpu(version), cpu(node)),
    compareRow('  CPU time, exec', cpu(exec), cpu(node)),
  ];
}
