import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SandboxT, SnapshotT } from '../api/index.js';
import { startDaemonProcess, type DaemonProcess } from './helpers/daemon-process.js';
import { ourDescendants } from './helpers/processes.js';
import { until } from './helpers/sandbox.js';

/** CRIU's lazy-pages itself, not the bothub-lazy-guard whose command line names it. */
const lazyPagesProcesses = () => ourDescendants(/^(?!\S*bothub-lazy-guard).*criu lazy-pages/);

const HOLD_MB = 512;
const HOLD = `nohup python3 -c "import os, time; d = os.urandom(${HOLD_MB} * 1024**2); open('/tmp/ready', 'w').close(); time.sleep(10**6)" >/dev/null 2>&1 & for i in $(seq 300); do test -e /tmp/ready && exit 0; sleep 0.2; done; exit 1`;

/** Whether runc still has the container's init running (runc's own view, as bothub's root keeps it). */
function containerRunning(t: DaemonProcess, id: string): boolean {
  try {
    const state = JSON.parse(execFileSync('runc', ['--root', join(t.dataDir, 'runc'), 'state', `bothub-${id}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { status: string };
    return state.status === 'running';
  } catch {
    return false;
  }
}

/**
 * A lazy restore's untouched memory lives only in the daemon's page server.
 * If the daemon dies before every page is in, the sandbox must not go on
 * with zeros where its memory was: bothub-lazy-guard kills it, with nobody
 * left to ask it to.
 */
describe('the lazy-pages guard', () => {
  let t: DaemonProcess;
  before(async () => {
    t = await startDaemonProcess({ env: { BOTHUB_LAZY_RESTORE: '1' } });
    await t.api.call('createSandbox', { body: { name: 'held', memoryMb: HOLD_MB + 512 } });
    const r = await t.api.call('exec', { params: { name: 'held' }, body: { command: ['sh', '-c', HOLD] } });
    assert.equal(r.exitCode, 0, r.stderr);
    await t.api.progress<SnapshotT>('createSnapshot', { params: { name: 'held' }, body: { name: 'held-1' } }, () => undefined);
    await until('the snapshot to be durable', async () => ((await t.api.call('getSnapshot', { params: { name: 'held-1' } })).status === 'ready' ? true : undefined), 120_000);
  });
  after(async () => {
    for (const pid of lazyPagesProcesses()) process.kill(pid, 'SIGCONT');
    await t.stop();
  });

  it('kills a sandbox whose pages were still streaming in when the daemon died, and the restarted daemon does not call it running', async () => {
    const branch = await t.api.progress<SandboxT>('restoreSnapshot', { params: { name: 'held-1' }, body: { name: 'orphan' } }, () => undefined);
    // Held still: its pages stop streaming, so the daemon dies with most of them not yet in.
    const [criu] = lazyPagesProcesses();
    assert.ok(criu, 'a lazy-pages process serves the branch');
    process.kill(criu, 'SIGSTOP');
    assert.ok(containerRunning(t, branch.id), 'the branch runs before the daemon dies');
    await t.kill9();
    process.kill(criu, 'SIGCONT');
    await until('the guard to kill the branch', async () => (containerRunning(t, branch.id) ? undefined : true), 30_000);

    await t.restart();
    const after = await until(
      'the restarted daemon to see the branch ended',
      async () => {
        const s = await t.api.call('getSandbox', { params: { name: 'orphan' } });
        return s.status !== 'running' ? s : undefined;
      },
      30_000,
    );
    assert.notEqual(after.status, 'running');
    await t.api.call('destroySandbox', { params: { name: 'orphan' } });
  });
});
