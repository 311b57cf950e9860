#!/usr/bin/env node
/**
 * The control plane under load: three daemons (their own processes) on one
 * PostgreSQL database, 1,000 sandbox records over 100 hosts whose heartbeats
 * land every few seconds, and an open-loop mix of API calls spread over the
 * daemons at a fixed rate (default 200/s for 5 minutes). Then the rate
 * doubles, step by step, until a step breaks: errors over 1%, p99 over 2 s,
 * or the daemons answering under 90% of what was asked.
 *
 *   npm run load -- [--daemons 3] [--minutes 5] [--rate 200] [--step-seconds 30] [--max-doublings 6]
 *
 * The records are records only (nothing runs there): the routes measured are
 * the ones the control plane answers from its records, reads and writes.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { ApiClient } from '../api/index.js';
import { openDatabase } from '../daemon/db/database.js';
import { startDaemonCluster } from '../test/helpers/daemon-cluster.js';
import { insertFixtures, simulateHeartbeats } from './load-fixtures.js';
import { loadNow, machine, percentile } from './stats.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    rate: { type: 'string', default: '200' },
    'step-seconds': { type: 'string', default: '30' },
    'max-doublings': { type: 'string', default: '6' },
    daemons: { type: 'string', default: '3' },
    sandboxes: { type: 'string', default: '1000' },
    hosts: { type: 'string', default: '100' },
    'heartbeat-seconds': { type: 'string', default: '5' },
  },
});
const num = (k: keyof typeof args) => {
  const n = Number(args[k]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} must be a positive number, not "${String(args[k])}"`);
  return n;
};

/** Past this many requests unanswered the client itself is saturated: more are counted as dropped, not sent. */
const MAX_IN_FLIGHT = 4000;

interface Sample {
  ms: number[];
  errors: number;
  firstError?: string;
}

type Call = (api: ApiClient) => Promise<unknown>;

function mix(sandboxes: string[], hosts: string[]): { route: string; weight: number; call: Call }[] {
  const any = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)]!;
  // Ports published by the publish calls, for the unpublish calls to take back.
  const published: { name: string; port: number }[] = [];
  return [
    { route: 'getSandbox', weight: 35, call: (api) => api.call('getSandbox', { params: { name: any(sandboxes) } }) },
    { route: 'listSandboxes', weight: 3, call: (api) => api.call('listSandboxes') },
    { route: 'getHost', weight: 15, call: (api) => api.call('getHost', { params: { name: any(hosts) } }) },
    { route: 'listHosts', weight: 2, call: (api) => api.call('listHosts') },
    { route: 'listSnapshots', weight: 10, call: (api) => api.call('listSnapshots', { query: {} }) },
    { route: 'listEvents', weight: 8, call: (api) => api.call('listEvents', { query: { sandbox: any(sandboxes) } }) },
    { route: 'whoami', weight: 12, call: (api) => api.call('whoami') },
    { route: 'health', weight: 5, call: (api) => api.call('health') },
    {
      route: 'publish',
      weight: 5,
      call: async (api) => {
        const p = { name: any(sandboxes), port: 3000 + published.length + Math.floor(Math.random() * 60000) };
        await api.call('publish', { params: { name: p.name }, body: { port: p.port } });
        published.push(p);
      },
    },
    {
      route: 'unpublish',
      weight: 5,
      call: async (api) => {
        const p = published.shift();
        if (p) await api.call('unpublish', { params: { name: p.name, port: p.port } });
        else await api.call('health');
      },
    },
  ];
}

/** Sends `rate` requests a second for `seconds`, open loop (a slow answer delays no later request), over the daemons in turn. */
async function phase(apis: ApiClient[], routes: ReturnType<typeof mix>, rate: number, seconds: number) {
  const samples = new Map<string, Sample>(routes.map((r) => [r.route, { ms: [], errors: 0 }]));
  const total = routes.reduce((s, r) => s + r.weight, 0);
  const pick = () => {
    let x = Math.random() * total;
    for (const r of routes) if ((x -= r.weight) < 0) return r;
    return routes[0]!;
  };
  let sent = 0;
  let answered = 0;
  let dropped = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent + dropped < due) {
      if (inFlight >= MAX_IN_FLIGHT) {
        dropped++;
        continue;
      }
      const r = pick();
      const s = samples.get(r.route)!;
      const api = apis[sent++ % apis.length]!;
      const t = performance.now();
      inFlight++;
      const p: Promise<void> = r
        .call(api)
        .then(
          () => void s.ms.push(performance.now() - t),
          (e: Error) => {
            s.errors++;
            s.firstError ??= e.message;
          },
        )
        .finally(() => {
          inFlight--;
          answered++;
          pending.delete(p);
        });
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const answeredInTime = answered;
  await Promise.all(pending);
  const elapsed = (performance.now() - started) / 1000;
  return { samples, sent, dropped, achieved: answeredInTime / seconds, elapsed };
}

function report(title: string, rate: number, r: Awaited<ReturnType<typeof phase>>): { broken: string | undefined } {
  const all = [...r.samples.values()];
  const n = all.reduce((s, x) => s + x.ms.length + x.errors, 0);
  const errors = all.reduce((s, x) => s + x.errors, 0);
  const every = all.flatMap((x) => x.ms);
  console.log(`\n${title}: ${rate} req/s asked, ${r.achieved.toFixed(0)} req/s answered, ${n} requests, ${errors} errors, ${r.dropped} not sent (client saturated); ${loadNow()}`);
  console.log(`${'route'.padEnd(16)} ${'n'.padStart(7)} ${'p50'.padStart(10)} ${'p99'.padStart(10)} ${'errors'.padStart(7)}  first error`);
  for (const [route, s] of r.samples) {
    if (!s.ms.length && !s.errors) continue;
    const f = (p: number) => (s.ms.length ? `${percentile(s.ms, p).toFixed(1)} ms` : '-').padStart(10);
    console.log(`${route.padEnd(16)} ${String(s.ms.length + s.errors).padStart(7)} ${f(50)} ${f(99)} ${String(s.errors).padStart(7)}  ${s.firstError ?? ''}`);
  }
  const p99 = every.length ? percentile(every, 99) : Infinity;
  const broken =
    errors > n * 0.01
      ? `errors ${((errors / n) * 100).toFixed(1)}% > 1%`
      : p99 > 2000
        ? `p99 ${p99.toFixed(0)} ms > 2 s`
        : r.achieved < rate * 0.9
          ? `answered ${r.achieved.toFixed(0)} of ${rate} req/s`
          : undefined;
  return { broken };
}

async function main(): Promise<void> {
  const [minutes, rate, stepSeconds, maxDoublings] = [num('minutes'), num('rate'), num('step-seconds'), num('max-doublings')];
  console.log(`bothub load test on ${machine()}; ${loadNow()}`);
  const cluster = await startDaemonCluster(num('daemons'), { BOTHUB_LOG_LEVEL: 'warn', BOTHUB_HEARTBEAT: '0' });
  const db = await openDatabase({ kind: 'postgres', url: cluster.databaseUrl }, pino({ level: 'silent' }));
  let stopBeats = async () => undefined as void;
  try {
    const first = cluster.daemons[0]!;
    const admin = await db.selectFrom('users').select('id').where('admin', '=', 1).executeTakeFirstOrThrow();
    const { fingerprint } = await first.api.call('getHost', { params: { name: 'local' } });
    const fixtures = await insertFixtures(db, { dataDir: first.dataDir, hosts: num('hosts'), sandboxes: num('sandboxes'), ownerId: admin.id, fingerprint });
    console.log(`${fixtures.sandboxes.length} sandbox records on ${fixtures.hosts.length} hosts; ${cluster.daemons.length} daemon${cluster.daemons.length === 1 ? '' : 's'}: ${cluster.daemons.map((d) => d.url).join(' ')}`);
    let beatErrors = 0;
    stopBeats = simulateHeartbeats(db, fixtures.hosts, num('heartbeat-seconds') * 1000, () => beatErrors++);
    const apis = cluster.daemons.map((d) => d.api);
    const routes = mix(fixtures.sandboxes, fixtures.hosts);
    const main = report(`steady (${minutes} min)`, rate, await phase(apis, routes, rate, minutes * 60));
    let broke = main.broken ? `at ${rate} req/s: ${main.broken}` : undefined;
    for (let i = 1, r = rate * 2; !broke && i <= maxDoublings; i++, r *= 2) {
      const step = report(`step ${i} (${stepSeconds} s)`, r, await phase(apis, routes, r, stepSeconds));
      if (step.broken) broke = `at ${r} req/s: ${step.broken}`;
    }
    console.log(`\nheartbeat writes that failed: ${beatErrors}`);
    console.log(broke ? `first broke ${broke}` : `did not break up to ${rate * 2 ** maxDoublings} req/s`);
  } finally {
    await stopBeats();
    // Records of nothing: removed here, or the daemons' stop would ask their hosts to destroy them.
    await db.deleteFrom('publications').execute();
    await db.deleteFrom('sandboxes').where('name', 'like', 'load-sb-%').execute();
    await db.deleteFrom('hosts').where('name', 'like', 'load-%').execute();
    await db.destroy();
    await cluster.stop();
  }
}

await main();
