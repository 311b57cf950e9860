/**
 * bothub chaos run: kill -9 the daemon at random moments of random operations,
 * start it again, and check that nothing acknowledged was lost and that the
 * records match reality.
 *   npm run chaos -- [--kills 200] [--minutes 60] [--move] [--deep-every 10] [--log FILE] [--out FILE]
 * Each round runs a few operations to completion (their times are the
 * per-operation figures), then starts one more and SIGKILLs the daemon after a
 * random delay within that operation's usual duration; then restarts it,
 * settles what the cut-short operation did, runs `doctor --consistency`
 * (with --deep every N rounds) and checks every acknowledged sandbox, file and
 * snapshot. Prints kills, problems, restart p50/p99 and per-operation times.
 */
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosModel } from './chaos-model.js';
import { ChaosOps, OPS, type Op, type OpName } from './chaos-ops.js';
import { startDaemonProcess, type DaemonProcess } from './daemon-process.js';
import { percentile, row } from './stats.js';
import { startSshHost, type TestSshHost } from '../test/helpers/ssh-host.js';
import { benchFlags } from './flags.js';

const flags = benchFlags('npm run chaos -- [--kills 200] [--minutes 60] [--move] [--deep-every 10] [--log FILE] [--out FILE]', ['--kills', '--minutes', '--move', '--deep-every', '--log', '--out']);
const arg = flags.value;
const kills = Number(arg('--kills') ?? 200);
const minutes = Number(arg('--minutes') ?? 0);
const deepEvery = Number(arg('--deep-every') ?? 10);
const withMove = flags.has('--move');
const out = arg('--out');
const OP_TIMEOUT_MS = 180_000;

const times = new Map<OpName, number[]>();
const killedDuring = new Map<OpName, number>();
const restarts: number[] = [];
const checks: number[] = [];
const problems: string[] = [];
let completedBeforeKill = 0;
let round = 0;

function problem(line: string): void {
  problems.push(`round ${round}: ${line}`);
  console.log(`  PROBLEM ${line}`);
}

const withTimeout = <T>(p: Promise<T>, what: string) =>
  Promise.race([p, sleep(OP_TIMEOUT_MS, undefined, { ref: false }).then(() => Promise.reject(new Error(`${what} did not finish in ${OP_TIMEOUT_MS / 1000} s`)))]);

/** An operation run to completion: timed, and its acknowledgement recorded. */
async function complete(ops: ChaosOps, op: Op): Promise<void> {
  const t = performance.now();
  try {
    await withTimeout(op.run(), op.name);
  } catch (e) {
    problem(`${op.name} ${op.sandbox} failed with no kill: ${(e as Error).message.split('\n')[0]}`);
    await ops.settle(op);
    return;
  }
  times.set(op.name, [...(times.get(op.name) ?? []), performance.now() - t]);
  op.acknowledged();
}

function chooseAny(ops: ChaosOps): Op {
  for (;;) {
    const name = OPS[randomInt(OPS.length)]!;
    // A move is the costliest operation: one round in four at most.
    if (name === 'move' && randomInt(4) !== 0) continue;
    const op = ops.choose(name) ?? ops.choose('create') ?? ops.choose('destroy');
    if (op) return op;
  }
}

/** The operation under the kill: SIGKILL after a random part of its usual duration (or a bit beyond). */
async function killDuring(d: DaemonProcess, ops: ChaosOps, op: Op): Promise<void> {
  const usual = times.get(op.name)?.length ? percentile(times.get(op.name)!, 50) : 1500;
  const delay = randomInt(Math.max(2, Math.round(usual * 1.2)));
  let acked = false;
  const running = op.run().then(
    () => (acked = true),
    () => undefined,
  );
  await sleep(delay);
  await d.kill9();
  await running;
  killedDuring.set(op.name, (killedDuring.get(op.name) ?? 0) + 1);
  if (acked) {
    completedBeforeKill++;
    op.acknowledged();
  }
  const t = performance.now();
  await d.restart();
  restarts.push(performance.now() - t);
  if (!acked) await ops.settle(op);
  console.log(`round ${round}: killed ${Math.round(delay)} ms into ${op.name} ${op.sandbox}${acked ? ' (it had finished)' : ''}; restart ${Math.round(restarts.at(-1)!)} ms`);
}

/**
 * A fleet host in a network namespace, as the fleet tests make them. Its
 * address comes from this process's PID, and on a shared machine another
 * run's host may hold it already: then the next one is tried.
 */
async function addFleetHost(d: DaemonProcess): Promise<TestSshHost> {
  for (let attempt = 1; ; attempt++) {
    const host = await startSshHost();
    try {
      await d.api.call('addHost', { body: { name: 'far', ssh: `root@${host.address}`, privateKey: await readFile(host.keyFile, 'utf8'), dataDir: host.dataDir } });
      return host;
    } catch (e) {
      await host.cleanup();
      if (attempt >= 5) throw e;
      console.log(`fleet host at ${host.address} refused (${(e as Error).message}); trying another address`);
    }
  }
}

const d = await startDaemonProcess({ env: { BOTHUB_IDLE_WARM: '20s', BOTHUB_IDLE_COLD: '0', BOTHUB_HEARTBEAT: '2s' }, logFile: arg('--log') });
let sshHost: TestSshHost | undefined;
const model = new ChaosModel();
const started = Date.now();
let stopping = false;
process.once('SIGINT', () => (stopping = true));
try {
  sshHost = withMove ? await addFleetHost(d) : undefined;
  const ops = new ChaosOps(d.api, model, sshHost ? 'far' : undefined);
  for (round = 1; round <= kills && !stopping; round++) {
    if (minutes && Date.now() - started > minutes * 60_000) break;
    await ops.trim();
    for (let i = randomInt(3); i > 0; i--) await complete(ops, chooseAny(ops));
    const op = chooseAny(ops);
    await ops.prepare(op).catch((e: Error) => problem(`preparing ${op.name} ${op.sandbox}: ${e.message}`));
    await killDuring(d, ops, op);

    const t = performance.now();
    const report = await d.api.call('doctorConsistency', { query: round % deepEvery === 0 ? { deep: true } : {} });
    checks.push(performance.now() - t);
    for (const p of report.problems) problem(`doctor: ${p.host} ${p.kind} ${p.subject}: ${p.detail}`);
    for (const p of await model.verify(d.api)) problem(p);
  }
  round--;
  const final = await d.api.call('doctorConsistency', { query: { deep: true } });
  for (const p of final.problems) problem(`final doctor --deep: ${p.host} ${p.kind} ${p.subject}: ${p.detail}`);
  console.log(`final deep check: ${final.checked.sandboxes} sandboxes, ${final.checked.snapshots} snapshots, ${final.checked.restored} restored`);
} finally {
  const total = [...killedDuring.values()].reduce((a, b) => a + b, 0);
  const lines = [
    `\nbothub chaos: ${total} kill -9 of the daemon in ${((Date.now() - started) / 60_000).toFixed(1)} min (${completedBeforeKill} landed after the operation had finished)`,
    `killed during: ${[...killedDuring].map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `problems found: ${problems.length}`,
    ...problems.map((p) => `  ${p}`),
    '',
    `${'operation'.padEnd(28)} ${'p50'.padStart(10)} ${'p99'.padStart(10)}`,
    ...(restarts.length ? [row('daemon restart (to healthy)', restarts)] : []),
    ...(checks.length ? [row('doctor --consistency', checks)] : []),
    ...[...times].map(([k, v]) => row(k, v)),
  ];
  console.log(lines.join('\n'));
  if (out) writeFileSync(out, lines.join('\n') + '\n');
  await d.stop().catch((e: Error) => console.log(`clean-up: ${e.message}`));
  await sshHost?.cleanup();
}
