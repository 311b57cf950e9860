#!/usr/bin/env node
// Interleaved A/B of sandbox create and destroy between two built checkouts
// (say the merge base, extracted with `git archive BASE | tar -x -C DIR` and
// built there, against this one): each runs its own daemon; every round times,
// on each side in an order that alternates, a whole `bothub create --name` and
// `bothub destroy` process (as `npm run bench -- --vs podman` does) and the same
// two operations through the HTTP API, a quarter of the API destroys on a paused
// (warm) sandbox. Run it niced on a shared machine:
//   nice -n 19 ionice -c3 node scripts/ab-lifecycle.mjs BASE_DIR NEW_DIR [ROUNDS]
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

const [baseTree, newTree] = process.argv.slice(2, 4);
if (!baseTree || !newTree) throw new Error('usage: node scripts/ab-lifecycle.mjs BASE_DIR NEW_DIR [ROUNDS] (both built)');
const runs = Number(process.argv[4] ?? 20);
const WARM = 2;
const trees = { base: resolve(baseTree), new: resolve(newTree) };
const ops = ['cli create', 'cli destroy', 'api create', 'api destroy', 'api destroy (warm)'];
const res = { base: {}, new: {} };
const sides = {};
let subnet = 200 + (process.pid % 40);
for (const [k, tree] of Object.entries(trees)) {
  const { startDaemonProcess, BIN, cliEnv } = await import(`${tree}/dist/bench/daemon-process.js`);
  const { timeProcess } = await import(`${tree}/dist/bench/processes.js`);
  const t = await startDaemonProcess({ env: { BOTHUB_SUBNET: `10.249.${subnet++}.0/24` } });
  sides[k] = { t, cli: (args) => timeProcess(process.execPath, [BIN, ...args], cliEnv(t)) };
}
const time = async (f) => { const s = performance.now(); await f(); return performance.now() - s; };
const round = async (k, i) => {
  const { t, cli } = sides[k];
  const r = {};
  r['cli create'] = (await cli(['create', '--name', `c-${i}`])).ms;
  r['cli destroy'] = (await cli(['destroy', `c-${i}`])).ms;
  r['api create'] = await time(() => t.api.call('createSandbox', { body: { name: `a-${i}` } }));
  if (i % 4 === 3) {
    await t.api.call('pauseSandbox', { params: { name: `a-${i}` } });
    r['api destroy (warm)'] = await time(() => t.api.call('destroySandbox', { params: { name: `a-${i}` } }));
  } else r['api destroy'] = await time(() => t.api.call('destroySandbox', { params: { name: `a-${i}` } }));
  return r;
};
try {
  for (let i = 0; i < runs + WARM; i++) {
    const order = i % 2 ? ['new', 'base'] : ['base', 'new'];
    for (const k of order) {
      const r = await round(k, i);
      if (i >= WARM) for (const [op, ms] of Object.entries(r)) (res[k][op] ??= []).push(ms);
    }
  }
} finally {
  for (const s of Object.values(sides)) await s.t.stop();
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f = (x) => `${x.toFixed(0)} ms`.padStart(8);
console.log(`${'operation'.padEnd(20)} ${'base p50'.padStart(9)} ${'base p99'.padStart(9)} ${'new p50'.padStart(9)} ${'new p99'.padStart(9)}  new/base p50   (n)`);
for (const op of ops) {
  const a = res.base[op], b = res.new[op];
  if (!a) continue;
  console.log(`${op.padEnd(20)} ${f(q(a, 0.5))}  ${f(q(a, 0.99))}  ${f(q(b, 0.5))}  ${f(q(b, 0.99))}  ${(q(b, 0.5) / q(a, 0.5)).toFixed(2)}×  (${a.length})`);
}
console.log(`load: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
