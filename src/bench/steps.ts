import type { ProgressEventT, SandboxT, SnapshotT } from '../api/index.js';
import type { DaemonProcess } from './daemon-process.js';
import { percentile } from './stats.js';

/** How long each step of one long operation took, in order: from its first progress event to the next step's (the last one to the reply). */
export type StepTimes = [step: string, ms: number][];

/** Runs a progress-reporting call and times its steps as the client sees them; repeated events of one step (bytes done) are one step. */
export async function withSteps<T>(run: (onProgress: (p: ProgressEventT) => void) => Promise<T>): Promise<{ result: T; steps: StepTimes }> {
  const start = performance.now();
  const marks: [string, number][] = [['request → first step', start]];
  const result = await run((p) => {
    if (marks[marks.length - 1]![0] !== p.step) marks.push([p.step, performance.now()]);
  });
  const end = performance.now();
  return { result, steps: marks.map(([step, at], i) => [i === marks.length - 1 ? `${step} → reply` : step, (marks[i + 1]?.[1] ?? end) - at]) };
}

const timeSteps = async (run: (onProgress: (p: ProgressEventT) => void) => Promise<unknown>): Promise<StepTimes> => (await withSteps(run)).steps;

/** One table of an operation's steps over several runs: each step's p50 and p99, and its share of the total. */
function stepTable(title: string, runs: StepTimes[]): string[] {
  const steps = [...new Set(runs.flatMap((r) => r.map(([s]) => s)))];
  const f = (n: number) => `${n.toFixed(0)} ms`.padStart(9);
  const totals = runs.map((r) => r.reduce((sum, [, ms]) => sum + ms, 0));
  const total50 = percentile(totals, 50);
  return [
    `${title.padEnd(30)} ${'p50'.padStart(9)} ${'p99'.padStart(9)}  share`,
    ...steps.map((step) => {
      const samples = runs.map((r) => r.filter(([s]) => s === step).reduce((sum, [, ms]) => sum + ms, 0));
      const p50 = percentile(samples, 50);
      return `  ${step.padEnd(28)} ${f(p50)} ${f(percentile(samples, 99))}  ${((100 * p50) / total50).toFixed(0).padStart(3)}%`;
    }),
    `  ${'total'.padEnd(28)} ${f(total50)} ${f(percentile(totals, 99))}`,
  ];
}

/**
 * Where a snapshot's and a restore's time goes, step by step as the daemon
 * reports them (freeze, filesystem, criu dump, checksums; verify,
 * filesystem, network, mount, criu restore, ready), through the API on one
 * small sandbox: what is CRIU's own and what is bothub's around it.
 */
export async function benchSnapshotSteps(t: DaemonProcess, runs: number): Promise<string[]> {
  const name = 'steps';
  await t.api.call('createSandbox', { body: { name } });
  const snapshots: StepTimes[] = [];
  const restores: StepTimes[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const snap = `${name}-${i}`;
      snapshots.push(await timeSteps((onProgress) => t.api.progress<SnapshotT>('createSnapshot', { params: { name }, body: { name: snap } }, onProgress)));
      restores.push(await timeSteps((onProgress) => t.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: {} }, onProgress)));
      await t.api.call('deleteSnapshot', { params: { name: snap } });
    }
  } finally {
    await t.api.call('destroySandbox', { params: { name } });
  }
  return [...stepTable('snapshot create (API), steps', snapshots), '', ...stepTable('snapshot restore (API), steps', restores)];
}
