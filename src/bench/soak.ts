/**
 * bothub soak run: snapshot-and-restore cycles of a stateful workload, with
 * its state checked every cycle.
 *   npm run soak -- [--cycles 1000] [--mib 256] [--minutes 60] [--log FILE] [--out FILE]
 * Cycles alternate: resume (snapshot that stops the sandbox, restore the same
 * sandbox) and branch-and-destroy (snapshot that leaves it running, branch,
 * check the branch, destroy it). The server holds `--mib` MiB and a counter;
 * a client in another sandbox holds one TCP connection to it through every
 * resume. Each cycle checks the bytes' sha256, the counter and that the
 * connection is the same one; the daemon's RSS and open fds are sampled from
 * /proc each cycle; at the end everything is destroyed and nothing may be left.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { ProgressEventT, SandboxT, SnapshotT } from '../api/index.js';
import { BothubError } from '../core/index.js';
import { startDaemonProcess } from './daemon-process.js';
import { leftovers } from './leftovers.js';
import { askDirect, askThroughClient, startWorkload } from './soak-workload.js';
import { row, time } from './stats.js';
import { withSteps } from './steps.js';
import { benchFlags } from './flags.js';

const flags = benchFlags('npm run soak -- [--cycles 1000] [--mib 256] [--minutes 60] [--log FILE] [--out FILE]', ['--cycles', '--mib', '--minutes', '--log', '--out']);
const arg = flags.value;
const cycles = Number(arg('--cycles') ?? 1000);
const mib = Number(arg('--mib') ?? 256);
const minutes = Number(arg('--minutes') ?? 0);
const out = arg('--out');

const d = await startDaemonProcess({ env: { BOTHUB_IDLE_WARM: '0', BOTHUB_IDLE_COLD: '0' }, logFile: arg('--log') });
const api = d.api;
const times = new Map<string, number[]>();
const lost: string[] = [];
const rss: number[] = [];
const fds: number[] = [];
const ids = new Set<string>();
const started = Date.now();
let done = 0;
let stopping = false;
process.once('SIGINT', () => (stopping = true));

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const [ms, r] = await time(fn);
  times.set(label, [...(times.get(label) ?? []), ms]);
  return r;
}

function sample(): void {
  const status = readFileSync(`/proc/${d.pid()}/status`, 'utf8');
  rss.push(Number(/^VmRSS:\s+(\d+)/m.exec(status)![1]) / 1024);
  fds.push(readdirSync(`/proc/${d.pid()}/fd`).length);
}

function check(cycle: number, what: string, got: string, want: string): void {
  if (got === want) return;
  lost.push(`cycle ${cycle}: ${what}: got "${got}", expected "${want}"`);
  console.log(`  LOST ${lost.at(-1)}`);
}

let busy = 0;
/** A snapshot answered BUSY changed nothing, so it is retried as a client would; the count is reported. */
/** Where each operation's time went, step by step as the daemon reported them (steps.ts): `operation › step` → its times. */
const stepTimes = new Map<string, number[]>();
async function stepped<T>(operation: string, run: (onProgress: (p: ProgressEventT) => void) => Promise<T>): Promise<T> {
  const { result, steps } = await withSteps(run);
  for (const [step, ms] of steps) stepTimes.set(`${operation} › ${step}`, [...(stepTimes.get(`${operation} › ${step}`) ?? []), ms]);
  return result;
}

async function snapshot(name: string, snap: string, leaveRunning: boolean): Promise<SnapshotT> {
  for (;;) {
    try {
      return await stepped(leaveRunning ? 'snapshot (leave running)' : 'snapshot (stops it)', (onProgress) =>
        api.progress<SnapshotT>('createSnapshot', { params: { name }, body: { name: snap, leaveRunning } }, onProgress),
      );
    } catch (e) {
      if (!(e instanceof BothubError && e.code === 'BUSY')) throw e;
      busy++;
    }
  }
}
const restore = (snap: string, name?: string) =>
  stepped(name ? 'branch' : 'resume', (onProgress) => api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: name ? { name } : {} }, onProgress));

const stats = (xs: number[]) => {
  const tenth = Math.max(1, Math.floor(xs.length / 10));
  const avg = (ys: number[]) => ys.reduce((a, b) => a + b, 0) / ys.length;
  return `first 10% avg ${avg(xs.slice(0, tenth)).toFixed(1)}, last 10% avg ${avg(xs.slice(-tenth)).toFixed(1)}, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}`;
};

let problems: string[] = [];
let checked = false;
let aborted: string | undefined;
try {
  for (const [name, memoryMb] of [
    ['server', mib * 3 + 256],
    ['client', 256],
  ] as const)
    ids.add((await api.call('createSandbox', { body: { name, network: 'peers', memoryMb } })).id);
  const w = await startWorkload(api, 'server', 'client', mib);
  let counter = 0;
  sample();
  for (let cycle = 1; cycle <= cycles && !stopping; cycle++) {
    if (minutes && Date.now() - started > minutes * 60_000) break;
    const snap = `soak-${cycle}`;
    if (cycle % 2 === 1) {
      await timed('snapshot (stops it)', () => snapshot('server', snap, false));
      await timed('resume (same sandbox)', () => restore(snap));
    } else {
      await timed('snapshot (leave running)', () => snapshot('server', snap, true));
      const branch = `branch-${cycle}`;
      ids.add((await timed('branch', () => restore(snap, branch))).id);
      const [branchSum, branchCounter] = await timed('check branch', async () => [await askDirect(api, branch, 'sum'), await askDirect(api, branch, 'get')]);
      check(cycle, 'branch sha256', branchSum, w.expectedSum);
      check(cycle, 'branch counter', branchCounter, String(counter));
      await timed('destroy branch', () => api.call('destroySandbox', { params: { name: branch } }));
    }
    await timed('delete snapshot', () => api.call('deleteSnapshot', { params: { name: snap } }));
    const [sum, inc] = await timed('check (sha256, counter)', async () => [await askThroughClient(api, 'client', 'sum'), await askThroughClient(api, 'client', 'inc')]);
    counter++;
    check(cycle, 'sha256 through the held connection', sum, `${w.expectedSum} ${w.clientPort}`);
    check(cycle, 'counter through the held connection', inc, `${counter} ${w.clientPort}`);
    sample();
    done = cycle;
    if (cycle % 10 === 0) console.log(`cycle ${cycle}: ${lost.length} lost, daemon RSS ${rss.at(-1)!.toFixed(0)} MiB, ${fds.at(-1)} fds`);
  }
  const report = await api.call('doctorConsistency', { query: {} });
  problems = report.problems.map((p) => `doctor: ${p.kind} ${p.subject}: ${p.detail}`);
  for (const s of await api.call('listSandboxes')) await api.call('destroySandbox', { params: { name: s.name } });
  for (const s of await api.call('listSnapshots', { query: {} })) await api.call('deleteSnapshot', { params: { name: s.name } });
  problems.push(...(await leftovers(d, ids)));
  checked = true;
} catch (e) {
  aborted = (e as Error).message.split('\n')[0];
  process.exitCode = 1;
} finally {
  const lines = [
    `\nbothub soak: ${done} of ${cycles} cycles in ${((Date.now() - started) / 60_000).toFixed(1)} min, ${mib} MiB held, alternating resume and branch-and-destroy`,
    `state lost: ${lost.length}`,
    `snapshots answered BUSY and retried: ${busy}`,
    ...lost.map((l) => `  ${l}`),
    `daemon RSS (MiB): ${rss.length ? stats(rss) : '-'}`,
    `daemon open fds: ${fds.length ? stats(fds) : '-'}`,
    ...(aborted ? [`run aborted at cycle ${done + 1}: ${aborted}`] : []),
    `leftovers after destroying everything: ${!checked ? 'not checked (the run did not finish)' : problems.length ? '' : 'none'}`,
    ...problems.map((p) => `  ${p}`),
    '',
    `${'operation'.padEnd(28)} ${'p50'.padStart(10)} ${'p99'.padStart(10)}`,
    ...[...times].map(([k, v]) => row(k, v)),
    '',
    'where the time went, step by step as the daemon reported them',
    ...[...stepTimes].map(([k, v]) => row(k.padEnd(56), v)),
  ];
  console.log(lines.join('\n'));
  if (lost.length || problems.length) process.exitCode = 1;
  if (out) writeFileSync(out, lines.join('\n') + '\n');
  await d.stop().catch((e: Error) => console.log(`clean-up: ${e.message}`));
}
