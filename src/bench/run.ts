/**
 * bothub benchmark: prints p50 and p99 of the operations users wait on.
 *   npm run bench [-- --runs 30]
 * It starts its own daemon on a temporary data dir (like the tests), measures
 * through the HTTP API as a client would, and removes everything it made.
 */
import { startTestDaemon } from '../test/helpers/daemon.js';
import { row, time } from './stats.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 30;

const t = await startTestDaemon();
const api = t.api;
try {
  // Warm-up: first runs pay for page cache and JIT.
  for (let i = 0; i < 3; i++) {
    await api.call('createSandbox', { body: { name: `warm-${i}` } });
    await api.call('exec', { params: { name: `warm-${i}` }, body: { command: ['true'] } });
    await api.call('destroySandbox', { params: { name: `warm-${i}` } });
  }

  const create: number[] = [];
  const destroy: number[] = [];
  for (let i = 0; i < runs; i++) {
    const [ms] = await time(() => api.call('createSandbox', { body: { name: `bench-${i}` } }));
    create.push(ms);
  }
  const exec: number[] = [];
  const parallel: number[] = [];
  for (let i = 0; i < runs; i++) {
    const [ms, r] = await time(() => api.call('exec', { params: { name: 'bench-0' }, body: { command: ['true'] } }));
    if (r.exitCode !== 0) throw new Error('exec of true failed');
    exec.push(ms);
  }
  for (let i = 0; i < runs; i++) {
    const [ms] = await time(() => Promise.all(Array.from({ length: 20 }, () => api.call('exec', { params: { name: 'bench-0' }, body: { command: ['true'] } }))));
    parallel.push(ms);
  }
  for (let i = 0; i < runs; i++) {
    const [ms] = await time(() => api.call('destroySandbox', { params: { name: `bench-${i}` } }));
    destroy.push(ms);
  }

  console.log(`bothub benchmark (${runs} runs each, HTTP API on loopback, image debian)\n`);
  console.log(`${'operation'.padEnd(28)} ${'p50'.padStart(10)} ${'p99'.padStart(10)}`);
  console.log(row('create (ready to exec)', create, 'target ≤ 100 ms'));
  console.log(row('exec `true`', exec, 'target ≤ 5 ms'));
  console.log(row('20 execs in parallel', parallel, 'target ≤ 20 ms'));
  console.log(row('destroy', destroy, 'target ≤ 50 ms'));
} finally {
  await t.cleanup();
}
