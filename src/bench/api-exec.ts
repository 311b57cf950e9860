import { readFileSync } from 'node:fs';
import type { DaemonProcess } from './daemon-process.js';
import { row, time } from './stats.js';

/** CPU time (user + system, ms) a process has used so far, from /proc (clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * exec `true` through the HTTP API, one at a time and 20 at once, with what
 * a busy machine does not blur: the daemon's own CPU time per exec, and the
 * cheapest authenticated call (listSandboxes) timed alongside as the floor
 * that HTTP, auth and the event loop cost on this machine now.
 */
export async function benchApiExec(t: DaemonProcess, sandbox: string, runs: number): Promise<string[]> {
  const exec = async () => {
    const r = await t.api.call('exec', { params: { name: sandbox }, body: { command: ['true'] } });
    if (r.exitCode !== 0) throw new Error('exec of true failed');
  };
  for (let i = 0; i < 5; i++) await exec();
  const one: number[] = [];
  const floor: number[] = [];
  let cpu = cpuMsOf(t.pid());
  for (let i = 0; i < runs; i++) {
    one.push((await time(exec))[0]);
    floor.push((await time(() => t.api.call('listSandboxes')))[0]);
  }
  // The floor's calls are in this figure too: taken out with their own cost, measured alone below.
  const cpuBoth = cpuMsOf(t.pid()) - cpu;
  cpu = cpuMsOf(t.pid());
  for (let i = 0; i < runs; i++) await t.api.call('listSandboxes');
  const cpuPerExec = (cpuBoth - (cpuMsOf(t.pid()) - cpu)) / runs;
  const parallel: number[] = [];
  cpu = cpuMsOf(t.pid());
  for (let i = 0; i < runs; i++) parallel.push((await time(() => Promise.all(Array.from({ length: 20 }, exec))))[0]);
  const cpuPerParallelExec = (cpuMsOf(t.pid()) - cpu) / (runs * 20);
  return [
    row('exec `true`', one, 'target ≤ 3 ms'),
    row('20 execs in parallel', parallel, 'target ≤ 25 ms'),
    row('  floor: listSandboxes', floor, 'the same client, interleaved with exec'),
    `  daemon CPU per exec: ${cpuPerExec.toFixed(2)} ms alone, ${cpuPerParallelExec.toFixed(2)} ms 20 at once (from /proc, 10 ms ticks over ${runs} runs)`,
  ];
}
