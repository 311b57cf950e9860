import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxT, SnapshotT } from '../api/index.js';
import type { DaemonProcess } from './daemon-process.js';
import { row, time } from './stats.js';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** The memory floor of a freeze: 1 GiB already in memory written into /dev/shm. */
function shmFloor(): number {
  const bytes = randomBytes(GiB);
  const file = `/dev/shm/bothub-bench-${process.pid}`;
  const t = performance.now();
  writeFileSync(file, bytes);
  const ms = performance.now() - t;
  rmSync(file);
  return ms;
}

/** A leave-running snapshot is answered while 'saving': waits until its durable copy is made. */
async function ready(t: DaemonProcess, name: string): Promise<void> {
  for (;;) {
    const s = await t.api.call('getSnapshot', { params: { name } });
    if (s.status === 'ready') return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
  const shm = shmFloor();
  const t0 = performance.now();
  const [fullMs, full] = await time(() => snapshot(t, 'big', 'big-1', true));
  await ready(t, 'big-1');
  const durableMs = performance.now() - t0;
  const floor = ddFloor(snapshotsDir) - urandomCost();
  out.push(`snapshot of 1 GiB sandbox     answered in ${(fullMs / 1000).toFixed(2)} s, durable after ${(durableMs / 1000).toFixed(2)} s, ${(full.sizeBytes / GiB).toFixed(2)} GiB`);
  out.push(`  frozen                      ${full.frozenMs!.toFixed(0)} ms; 1 GiB into /dev/shm ${shm.toFixed(0)} ms → ${(full.frozenMs! / shm).toFixed(2)}× the floor (goal ≤ 1.5×)`);
  out.push(`  dd floor, 1 GiB fdatasync   ${(floor / 1000).toFixed(2)} s  → durable copy = ${(durableMs / floor).toFixed(2)}× the floor`);

  // A second snapshot after 10 MiB changed: what it adds to the store.
  const before = (await t.api.call('doctor')).store!;
  await exec(t, 'big', 'head -c 10485760 /dev/urandom > /root/changed');
  const second = await snapshot(t, 'big', 'big-2', true);
  await ready(t, 'big-2');
  const afterStore = (await t.api.call('doctor')).store!;
  const addedMiB = (afterStore.storedBytes - before.storedBytes) / MiB;
  out.push(`second snapshot, 10 MiB new   frozen ${second.frozenMs!.toFixed(0)} ms, added ${addedMiB.toFixed(1)} MiB to the store → ${(addedMiB / 10).toFixed(2)}× the 10 MiB changed`);
  out.push(`  store                       ${(afterStore.storedBytes / GiB).toFixed(2)} GiB for ${(afterStore.logicalBytes / GiB).toFixed(2)} GiB of snapshots (saved ${(afterStore.savedBytes / GiB).toFixed(2)} GiB)`);

  await t.api.call('stopSandbox', { params: { name: 'big' } });
  dropCaches();
  const [firstExec] = await time(async () => {
    await restore(t, 'big-1');
    await exec(t, 'big', 'true');
  });
  out.push(`restore 1 GiB + first exec    ${firstExec.toFixed(0)} ms, cold cache → ${(firstExec / 300).toFixed(2)}× the 300 ms goal (no lazy pages: all memory is read first)`);
  const [branchesMs] = await time(async () => {
    for (let i = 0; i < 10; i++) await restore(t, 'big-1', `big-branch-${i}`);
  });
  out.push(`10 branches of 1 GiB          ${(branchesMs / 1000).toFixed(2)} s → ${(branchesMs / 3000).toFixed(2)}× the 3 s goal`);
  for (let i = 0; i < 10; i++) await t.api.call('destroySandbox', { params: { name: `big-branch-${i}` } });
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
