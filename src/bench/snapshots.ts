import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxT, SnapshotT } from '../api/index.js';
import type { DaemonProcess } from './daemon-process.js';
import { row, time } from './stats.js';

const GiB = 1024 * 1024 * 1024;

function dropCaches(): void {
  execFileSync('sync');
  execFileSync('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']);
}

const snapshot = (t: DaemonProcess, sandbox: string, name: string, leaveRunning = false) =>
  t.api.progress<SnapshotT>('createSnapshot', { params: { name: sandbox }, body: { name, leaveRunning } }, () => undefined);
const restore = (t: DaemonProcess, snap: string, name?: string) =>
  t.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: name ? { name } : {} }, () => undefined);

async function exec(t: DaemonProcess, name: string, script: string): Promise<void> {
  const r = await t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', script] } });
  if (r.exitCode !== 0) throw new Error(`${script}: ${r.stderr}`);
}

/** The disk floor: the same bytes written with fdatasync to the disk that holds snapshots. */
function ddFloor(dir: string): number {
  const file = join(dir, 'dd-floor.bin');
  const t = performance.now();
  execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=1024', 'conv=fdatasync'], { stdio: 'ignore' });
  const ms = performance.now() - t;
  rmSync(file);
  return ms;
}

/** Time of /dev/urandom itself, so the floor counts only the disk. */
function urandomCost(): number {
  const t = performance.now();
  execFileSync('dd', ['if=/dev/urandom', 'of=/dev/null', 'bs=1M', 'count=1024'], { stdio: 'ignore' });
  return performance.now() - t;
}

export async function benchSnapshots(t: DaemonProcess, runs: number): Promise<string[]> {
  const out: string[] = [];
  const snapshotsDir = join(t.dataDir, 'snapshots');

  // 1 GiB of random bytes held in memory.
  await t.api.call('createSandbox', { body: { name: 'big', memoryMb: 2048 } });
  await exec(
    t,
    'big',
    "nohup python3 -c \"import os, time; d = os.urandom(1024**3); open('/tmp/ready','w').close(); time.sleep(10**6)\" >/dev/null 2>&1 & for i in $(seq 300); do test -e /tmp/ready && exit 0; sleep 0.2; done; exit 1",
  );
  const [fullMs, full] = await time(() => snapshot(t, 'big', 'big-1', true));
  const floor = ddFloor(snapshotsDir) - urandomCost();
  out.push(`snapshot of 1 GiB sandbox     ${(fullMs / 1000).toFixed(2)} s, ${(full.sizeBytes / GiB).toFixed(2)} GiB written, frozen ${(full.frozenMs! / 1000).toFixed(2)} s`);
  out.push(`dd floor, 1 GiB fdatasync     ${(floor / 1000).toFixed(2)} s  → snapshot = ${(fullMs / floor).toFixed(2)}× the floor`);

  // A second snapshot after 10 MiB changed.
  await exec(t, 'big', 'head -c 10485760 /dev/urandom > /dev/shm/changed');
  const second = await snapshot(t, 'big', 'big-2', true);
  out.push(`second snapshot, 10 MiB new   frozen ${second.frozenMs!.toFixed(0)} ms (no memory tracking on this kernel: full dump)`);

  await t.api.call('stopSandbox', { params: { name: 'big' } });
  dropCaches();
  const [bigRestore] = await time(() => restore(t, 'big-1'));
  out.push(`restore 1 GiB, cold cache     ${(bigRestore / 1000).toFixed(2)} s`);
  await t.api.call('destroySandbox', { params: { name: 'big' } });
  for (const s of ['big-1', 'big-2']) await t.api.call('deleteSnapshot', { params: { name: s } });

  // A small sandbox: snapshot, restore with a cold page cache, branches.
  await t.api.call('createSandbox', { body: { name: 'small', command: ['sh', '-c', 'while true; do sleep 1; done'] } });
  const snapTimes: number[] = [];
  const frozen: number[] = [];
  const restores: number[] = [];
  for (let i = 0; i < runs; i++) {
    const [ms, s] = await time(() => snapshot(t, 'small', `small-${i}`));
    snapTimes.push(ms);
    frozen.push(s.frozenMs!);
    dropCaches();
    const [rms] = await time(() => restore(t, `small-${i}`));
    restores.push(rms);
  }
  out.push(row('snapshot, small sandbox', snapTimes));
  out.push(row('  of which frozen', frozen));
  out.push(row('restore, small, cold cache', restores, 'target ≤ 150 ms'));
  const [branchMs] = await time(async () => {
    for (let i = 0; i < 10; i++) await restore(t, 'small-0', `branch-${i}`);
  });
  out.push(`branch 10 copies             ${branchMs.toFixed(0)} ms total, ${(branchMs / 10).toFixed(0)} ms each`);
  for (let i = 0; i < 10; i++) await t.api.call('destroySandbox', { params: { name: `branch-${i}` } });
  await t.api.call('destroySandbox', { params: { name: 'small' } });
  for (let i = 0; i < runs; i++) await t.api.call('deleteSnapshot', { params: { name: `small-${i}` } });
  return out;
}
