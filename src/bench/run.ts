/**
 * bothub benchmark: prints p50 and p99 of the operations users wait on.
 *   npm run bench [-- --runs 30] [--only sandboxes|cli|snapshots|thermal|lazy|layers] [--lazy]
 *   (--lazy: lazy restores' goals, with BOTHUB_LAZY_RESTORE off and on; in the full run too)
 *   npm run bench -- --vs podman [--runs 20]   (with the steps of bothub's checkpoint and restore)
 *   npm run bench -- --only sandboxes --cpu-prof-daemon DIR   (the daemon's CPU profile)
 *   npm run bench -- --only layers   (a disk-limited create's layer: spare against mkfs.ext4)
 * It starts its own daemon process on a temporary data dir, measures through
 * the HTTP API as a client would and through the CLI as a whole process, and
 * removes everything it made. `--vs podman` measures podman's CLI on the same
 * rootfs in the same run, interleaved (installing podman if it is missing),
 * after the API's and the CLI's own figures.
 */
import { benchApiExec } from './api-exec.js';
import { benchCliStartup } from './cli-startup.js';
import { benchLayerImage } from './layer-image.js';
import { startDaemonProcess } from './daemon-process.js';
import { benchSnapshots } from './snapshots.js';
import { benchSnapshotSteps } from './steps.js';
import { benchVsPodman } from './vs-podman.js';
import { benchThermal } from './thermal.js';
import { benchLazy } from './lazy.js';
import { loadNow, machine, row, time } from './stats.js';
import { benchFlags } from './flags.js';

const flags = benchFlags('npm run bench -- [--runs 30] [--only sandboxes|cli|snapshots|thermal|lazy|layers] [--lazy] [--vs podman] [--cpu-prof-daemon DIR]', ['--runs', '--only', '--lazy', '--vs', '--cpu-prof-daemon']);
const arg = flags.value;
const runs = Number(arg('--runs')) || 30;
const only = arg('--only');
const vs = arg('--vs');
if (vs !== undefined && vs !== 'podman') throw new Error(`--vs ${vs}: only podman is measured against`);
const sections = only ? [only] : flags.has('--lazy') ? ['lazy'] : vs ? ['sandboxes', 'cli'] : ['sandboxes', 'cli', 'snapshots', 'thermal', 'lazy'];
const want = (section: string) => sections.includes(section);

// --cpu-prof-daemon DIR: the daemon writes a V8 CPU profile there when the bench stops it.
const profileDir = arg('--cpu-prof-daemon');
const t = await startDaemonProcess({ nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });
const api = t.api;
try {
  // A fresh machine has no default image yet: built once, as `bothub create` would.
  await api.call('getImage', { params: { name: 'debian' } }).catch(() => api.progress('buildImage', { params: { name: 'debian' } }, () => undefined));
  if (want('sandboxes')) {
    await benchSandboxes();
    console.log(loadNow());
  }
  if (want('layers')) {
    console.log('\ncreate\'s writable layer (interleaved)\n');
    for (const line of await benchLayerImage(Math.min(runs, 10))) console.log(line);
    console.log(loadNow());
  }
  if (want('cli')) {
    console.log('\nCLI start-up (whole processes, against Node on this machine)\n');
    for (const line of await benchCliStartup(t, runs)) console.log(line);
    console.log(loadNow());
  }
  if (vs === 'podman') {
    console.log('\nagainst podman (whole CLI processes, interleaved)\n');
    for (const line of await benchVsPodman(t, Math.min(runs, 20))) console.log(line);
    console.log(loadNow());
    console.log('\nwhere bothub\'s checkpoint and restore time goes\n');
    for (const line of await benchSnapshotSteps(t, Math.min(runs, 10))) console.log(line);
    console.log(loadNow());
  }
  if (want('snapshots')) {
    console.log('\nsnapshots (CRIU)\n');
    for (const line of await benchSnapshots(t, Math.min(runs, 10))) console.log(line);
    console.log(loadNow());
  }
  if (want('thermal')) {
    console.log('\nthermal states (through the preview proxy)\n');
    for (const line of await benchThermal(t, runs)) console.log(line);
    console.log(loadNow());
  }
  if (want('lazy')) {
    console.log('\nlazy restores (CRIU lazy pages), off and on\n');
    await benchLazy(Math.min(runs, 20), (line) => console.log(line));
    console.log(loadNow());
  }
} finally {
  await t.stop();
}

async function benchSandboxes(): Promise<void> {
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
  const exec = await benchApiExec(t, 'bench-0', runs);
  for (let i = 0; i < runs; i++) {
    const [ms] = await time(() => api.call('destroySandbox', { params: { name: `bench-${i}` } }));
    destroy.push(ms);
  }

  console.log(`bothub benchmark (${runs} runs each, HTTP API on loopback, image debian; ${machine()})\n`);
  console.log(`${'operation'.padEnd(28)} ${'p50'.padStart(10)} ${'p99'.padStart(10)}`);
  console.log(row('create (ready to exec)', create, 'target ≤ 100 ms'));
  for (const line of exec) console.log(line);
  console.log(row('destroy', destroy, 'target ≤ 50 ms'));
}
