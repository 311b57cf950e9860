import { join } from 'node:path';
import { startDaemonProcess, type DaemonProcess } from './daemon-process.js';
import { startRuncFloor } from './runc-floor.js';
import type { SandboxT, SnapshotT } from '../api/index.js';
import { percentile, row, time } from './stats.js';
import { web } from './thermal.js';

const HOLD_1GIB =
  "nohup python3 -c \"import os, time; d = os.urandom(1024**3); open('/tmp/ready','w').close(); time.sleep(10**6)\" >/dev/null 2>&1 & for i in $(seq 300); do test -e /tmp/ready && exit 0; sleep 0.2; done; exit 1";

/** Restores (or branches, with `name`); resolves with when each step began (its progress events), in ms after the request. */
async function restore(t: DaemonProcess, snap: string, name?: string): Promise<Map<string, number>> {
  const start = performance.now();
  const steps = new Map<string, number>();
  await t.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: name ? { name } : {} }, (e) => {
    const step = (e as { step?: string }).step;
    if (step && !steps.has(step)) steps.set(step, performance.now() - start);
  });
  return steps;
}

/** How long runc and CRIU took of a restore: from the 'criu restore' step to 'ready' (the init's answer). */
const criuMs = (steps: Map<string, number>) => (steps.get('ready') ?? NaN) - (steps.get('criu restore') ?? NaN);

async function exec(t: DaemonProcess, name: string, script: string): Promise<void> {
  const r = await t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', script] } });
  if (r.exitCode !== 0) throw new Error(`${script}: ${r.stderr}`);
}

/** A snapshot the API answered while 'saving': polled until it is 'ready'. */
async function ready(t: DaemonProcess, name: string): Promise<void> {
  while ((await t.api.call('getSnapshot', { params: { name } })).status !== 'ready') await new Promise((r) => setTimeout(r, 20));
}

/**
 * The floor under any wake: `runc restore` of a small container with
 * nothing around it (no bothub, no network, no files to put back), on the
 * same rootfs. A wake cannot take less, whatever bothub does.
 */
async function restoreFloor(t: DaemonProcess, runs: number): Promise<string> {
  const runc = await startRuncFloor(join(t.imagesDir, 'debian', 'rootfs'));
  const restores: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await runc.create(`floor-${i}`);
      await runc.checkpoint(`floor-${i}`);
      restores.push((await runc.restore(`floor-${i}`)).ms);
      await runc.destroy(`floor-${i}`);
    }
  } finally {
    await runc.close();
  }
  return row('  runc restore alone (the floor)', restores, `→ ${(percentile(restores, 50) / 150).toFixed(2)}× the 150 ms goal`);
}

/** Lazy restores' goals, measured with BOTHUB_LAZY_RESTORE off and on in the same run, each with a daemon of its own; each line printed as it is measured. */
export async function benchLazy(runs: number, print: (line: string) => void): Promise<void> {
  const out = { push: print };
  for (const mode of ['0', '1']) {
    const label = mode === '1' ? 'lazy' : 'eager';
    const t = await startDaemonProcess({ env: { BOTHUB_LAZY_RESTORE: mode } });
    try {
      out.push(`BOTHUB_LAZY_RESTORE=${mode} (${label})`);
      const { url } = await web(t, 'wake');
      await fetch(url).then((r) => r.text());
      const cold: number[] = [];
      for (let i = 0; i < Math.min(runs, 20); i++) {
        await t.api.call('freezeSandbox', { params: { name: 'wake' } });
        cold.push((await time(() => fetch(url).then((r) => r.text())))[0]);
      }
      out.push(row(`  cold wake, first request`, cold, `→ ${(percentile(cold, 50) / 150).toFixed(2)}× the 150 ms goal, ${(percentile(cold, 50) / 360).toFixed(2)}× bhatti's 360 ms`));
      if (mode === '0') out.push(await restoreFloor(t, Math.min(runs, 10)));
      await t.api.call('destroySandbox', { params: { name: 'wake' } });

      // 1 GiB of random bytes held by a process, snapshotted (stopping it), then restored: until its first exec answers.
      await t.api.call('createSandbox', { body: { name: 'big', memoryMb: 1536 } });
      await exec(t, 'big', HOLD_1GIB);
      await t.api.progress<SnapshotT>('createSnapshot', { params: { name: 'big' }, body: { name: 'big-1' } }, () => undefined);
      await ready(t, 'big-1');
      const firsts: number[] = [];
      const criu: number[] = [];
      for (let i = 0; i < Math.min(runs, 3); i++) {
        firsts.push(
          (
            await time(async () => {
              criu.push(criuMs(await restore(t, 'big-1')));
              await exec(t, 'big', 'true');
            })
          )[0],
        );
        await t.api.call('stopSandbox', { params: { name: 'big' } });
      }
      out.push(row('  1 GiB: restore + first exec', firsts, `→ ${(percentile(firsts, 50) / 300).toFixed(2)}× the 300 ms goal (page cache warm)`));
      out.push(row('    of which runc + CRIU restore', criu, `(from the 'criu restore' step to the init's answer)`));
      const [branchesMs] = await time(async () => {
        for (let i = 0; i < 10; i++) await restore(t, 'big-1', `big-branch-${i}`);
      });
      out.push(`  10 branches of 1 GiB, one by one: ${(branchesMs / 1000).toFixed(2)} s → ${(branchesMs / 3000).toFixed(2)}× the 3 s goal`);
      for (let i = 0; i < 10; i++) await t.api.call('destroySandbox', { params: { name: `big-branch-${i}` } });
      const [parallelMs] = await time(() => Promise.all(Array.from({ length: 10 }, (_, i) => restore(t, 'big-1', `big-par-${i}`))));
      out.push(`  10 branches of 1 GiB, at once:    ${(parallelMs / 1000).toFixed(2)} s → ${(parallelMs / 3000).toFixed(2)}× the 3 s goal`);
      for (let i = 0; i < 10; i++) await t.api.call('destroySandbox', { params: { name: `big-par-${i}` } });
      await t.api.call('destroySandbox', { params: { name: 'big' } });
    } catch (e) {
      // Said before the cleanup, which can fail for the same reason (a snapshot still pinned) and would hide it.
      print(`  failed: ${(e as Error).stack ?? String(e)}`);
      throw e;
    } finally {
      await t.stop();
    }
  }
}
