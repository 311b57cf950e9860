import { BIN, cliEnv, type DaemonProcess } from './daemon-process.js';
import { timeProcess } from './processes.js';
import { compareHeader, compareRow } from './stats.js';

/**
 * What a command costs as a whole process, against Node's own start on the
 * same machine in the same run (`node -e 0`), interleaved so that load from
 * elsewhere falls on all three alike.
 */
export async function benchCliStartup(t: DaemonProcess, runs: number): Promise<string[]> {
  const env = cliEnv(t);
  await t.api.call('createSandbox', { body: { name: 'cli' } });
  const node: number[] = [];
  const version: number[] = [];
  const exec: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const n = await timeProcess(process.execPath, ['-e', '0'], env);
    const v = await timeProcess(process.execPath, [BIN, '--version'], env);
    const e = await timeProcess(process.execPath, [BIN, 'exec', 'cli', '--', 'true'], env);
    if (i < 3) continue; // warm-up: page cache, the route-paths file
    node.push(n.ms);
    version.push(v.ms);
    exec.push(e.ms);
  }
  await t.api.call('destroySandbox', { params: { name: 'cli' } });
  return [
    compareHeader('bothub', 'node -e 0'),
    compareRow('bothub --version', version, node, 'target ≤ 1.1×'),
    compareRow('bothub exec NAME -- true', exec, node, 'target ≤ 1.3×'),
  ];
}
