import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProgressEventT, SandboxT, SnapshotT } from '../api/index.js';
import { SYSTEM } from '../core/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { heldSha, startHolding } from './helpers/held-memory.js';
import { ourDescendants } from './helpers/processes.js';
import { sh, snapshot, until } from './helpers/sandbox.js';

/** Ingests held by the test, released in `after` too. */
const holds: (() => void)[] = [];
const releaseHolds = () => holds.splice(0).forEach((release) => release());

/**
 * Holds every durable copy at its first chunk write until released: the
 * snapshot stays 'saving' exactly as long as the test needs (the daemon's own
 * store, in this process; the chunks are written for real once released).
 */
function holdIngests(t: TestDaemon): { release: () => void } {
  const store = t.daemon.ctx.snapshots.chunks.store;
  const put = store.put.bind(store);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  store.put = async (hash, bytes) => {
    await gate;
    return put(hash, bytes);
  };
  const release = () => {
    store.put = put;
    open();
  };
  holds.push(release); // a test that fails while holding must not leave the daemon's clean-up waiting on it
  return { release };
}

/** The staging area of a snapshot (on the staging tmpfs, or on disk when it did not fit), while it exists. */
function stagingOf(t: TestDaemon, snap: SnapshotT, sandboxId: string): string | undefined {
  const name = `.partial-${snap.id}.${sandboxId}.staging`;
  return [join(t.config.dataDir, 'snapshot-staging', name), join(t.daemon.ctx.snapshots.dir, name)].find((d) => existsSync(d));
}

/** Waits until a staging area is gone (its release has ended: removed, and no longer held). */
const released = (t: TestDaemon, staging: string, ms: number) =>
  until('the staging area to be released', async () => (existsSync(staging) || t.daemon.ctx.snapshots.stagingInUse().length ? undefined : true), ms);

const mounted = (dir: string) => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);

interface Timed {
  step: string;
  at: number;
}

/** A restore through the API, with its progress steps and when each began. */
async function restoreTimed(t: TestDaemon, snap: string, name?: string): Promise<{ sandbox: SandboxT; steps: Timed[]; ms: number }> {
  const steps: Timed[] = [];
  const start = performance.now();
  const sandbox = await t.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: name ? { name } : {} }, (p: ProgressEventT) => {
    if (steps.at(-1)?.step !== p.step) steps.push({ step: p.step, at: performance.now() - start });
  });
  return { sandbox, steps, ms: performance.now() - start };
}

/** Milliseconds each step took, as the soak reports them ("branch › saving"). */
function stepMs(r: { steps: Timed[]; ms: number }): Record<string, number> {
  return Object.fromEntries(r.steps.map((s, i) => [s.step, Math.round((r.steps[i + 1]?.at ?? r.ms) - s.at)]));
}

const status = async (t: TestDaemon, name: string) => (await t.api.call('listSnapshots', { query: {} })).find((s) => s.name === name)?.status;

/** Restored from the staging area: no wait for the durable copy, no read from the store. */
function assertStaged(r: { steps: Timed[] }): void {
  const names = r.steps.map((s) => s.step);
  assert.equal(names[0], 'staged', `steps: ${names.join(', ')}`);
  for (const waited of ['saving', 'read', 'verify']) assert.ok(!names.includes(waited), `no '${waited}' step: ${names.join(', ')}`);
}

describe('restores of a snapshot still saving read its staging area', () => {
  let t: TestDaemon;
  let sha = '';
  let sandboxId = '';
  before(async () => {
    t = await startTestDaemon();
    sandboxId = (await t.api.call('createSandbox', { body: { name: 'origin', memoryMb: 512 } })).id;
    sha = await startHolding(t, 'origin', 64);
  });
  after(async () => {
    releaseHolds();
    await t.cleanup();
  });

  it('a branch restores from staging while the durable copy is held; the area goes once both are done', async () => {
    await sh(t, 'origin', 'echo before > /root/note');
    const held = holdIngests(t);
    const snap = await snapshot(t, 'origin', 'early', true);
    assert.equal(snap.status, 'saving');
    await sh(t, 'origin', 'echo after > /root/note');
    const staging = stagingOf(t, snap, sandboxId);
    assert.ok(staging, 'the dump is in its staging area');

    const branch = await restoreTimed(t, 'early', 'early-branch');
    assertStaged(branch);
    assert.equal(branch.sandbox.status, 'running');
    assert.equal(await status(t, 'early'), 'saving', 'the durable copy was still being made');
    assert.equal(await sh(t, 'early-branch', 'cat /root/note'), 'before\n');
    assert.equal(await heldSha(t, 'early-branch'), sha, 'the branch holds the memory of the snapshot');
    // The restore is done; the ingest still reads the staging area, so it stays, and doctor does not call it a leftover.
    assert.ok(existsSync(staging));
    assert.deepEqual(t.daemon.ctx.snapshots.stagingInUse(), [staging.split('/').at(-1)]);
    const report = await t.api.call('doctorConsistency', { query: {} });
    assert.deepEqual(report.problems, [], JSON.stringify(report.problems));

    held.release();
    await until('the snapshot to be durable', async () => ((await status(t, 'early')) === 'ready' ? true : undefined), 120_000);
    await released(t, staging, 60_000);
    assert.ok(!mounted(staging), 'its tmpfs is unmounted');
    // Durable now: a restore reads the store, as before.
    const later = await restoreTimed(t, 'early', 'later-branch');
    assert.ok(later.steps.some((s) => s.step === 'read'), later.steps.map((s) => s.step).join(', '));
    assert.equal(await heldSha(t, 'later-branch'), sha);
    for (const name of ['early-branch', 'later-branch']) await t.api.call('destroySandbox', { params: { name } });
    await t.api.call('deleteSnapshot', { params: { name: 'early' } });
  });

  it("the snapshot's own sandbox resumes from staging; an aborted branch gives its reference back", async () => {
    await sh(t, 'origin', 'echo before > /root/note');
    const held = holdIngests(t);
    const snap = await snapshot(t, 'origin', 'own', true);
    assert.equal(snap.status, 'saving');
    const staging = stagingOf(t, snap, sandboxId)!;

    // Aborted as its files are being put in place: the branch is not left behind, and its reference is given back.
    const abort = new AbortController();
    const onProgress = (p: ProgressEventT) => p.step === 'filesystem' && abort.abort();
    await assert.rejects(t.daemon.ctx.snapshots.restore('own', { name: 'aborted' }, SYSTEM, { onProgress, signal: abort.signal }));
    await assert.rejects(t.api.call('getSandbox', { params: { name: 'aborted' } }), (e: Error & { code?: string }) => e.code === 'NOT_FOUND');

    await sh(t, 'origin', 'echo after > /root/note');
    await t.api.call('stopSandbox', { params: { name: 'origin' } });
    const resumed = await restoreTimed(t, 'own');
    assertStaged(resumed);
    assert.equal(resumed.sandbox.status, 'running');
    assert.equal(await status(t, 'own'), 'saving');
    assert.equal(await sh(t, 'origin', 'cat /root/note'), 'before\n');
    assert.equal(await heldSha(t, 'origin'), sha);
    assert.ok(existsSync(staging), 'the ingest still holds it');

    held.release();
    await released(t, staging, 120_000);
    assert.equal(await status(t, 'own'), 'ready');
    await t.api.call('deleteSnapshot', { params: { name: 'own' } });
  });

  it('figures: a branch of a saving snapshot from its staging area, and as it was (waiting for the durable copy, then reading it)', async () => {
    // As the soak measures it: a sandbox holding 256 MiB.
    await t.api.call('createSandbox', { body: { name: 'big', memoryMb: 512 } });
    await startHolding(t, 'big', 256);
    const snap = await snapshot(t, 'big', 'timed', true);
    const staged = await restoreTimed(t, 'timed', 'timed-staged');
    assertStaged(staged);
    await until('the snapshot to be durable', async () => ((await status(t, 'timed')) === 'ready' ? true : undefined), 120_000);
    // Before: a restore first waited for the durable copy ('saving'), then read it back from the store.
    await snapshot(t, 'big', 'timed-before', true);
    const waiting = performance.now();
    await t.daemon.ctx.snapshots.readyRow('timed-before', SYSTEM);
    const savingMs = Math.round(performance.now() - waiting);
    const durable = await restoreTimed(t, 'timed-before', 'timed-durable');
    process.stderr.write(
      `# branch of a saving ${snap.sizeBytes >> 20} MiB snapshot: after ${Math.round(staged.ms)} ms ${JSON.stringify(stepMs(staged))}; ` +
        `before ${Math.round(savingMs + durable.ms)} ms ${JSON.stringify({ saving: savingMs, ...stepMs(durable) })}\n`,
    );
    for (const name of ['timed-staged', 'timed-durable', 'big']) await t.api.call('destroySandbox', { params: { name } });
    for (const name of ['timed', 'timed-before']) await t.api.call('deleteSnapshot', { params: { name } });
  });
});

describe('a lazy restore from staging holds it until every page is in', () => {
  let t: TestDaemon;
  let sha = '';
  let sandboxId = '';
  const lazyPages = () => ourDescendants(/criu lazy-pages/);
  before(async () => {
    t = await startTestDaemon({ lazyRestore: true });
    sandboxId = (await t.api.call('createSandbox', { body: { name: 'lazy-origin', memoryMb: 512 } })).id;
    sha = await startHolding(t, 'lazy-origin', 64);
  });
  after(async () => {
    releaseHolds();
    for (const pid of lazyPages()) process.kill(pid, 'SIGCONT');
    await t.cleanup();
  });

  it('the durable copy finishes first; the staging area stays until the page daemon is done', async () => {
    const held = holdIngests(t);
    const snap = await snapshot(t, 'lazy-origin', 'lazy-early', true);
    assert.equal(snap.status, 'saving');
    const staging = stagingOf(t, snap, sandboxId)!;
    // The page daemon is stopped before it serves a page: the restore cannot finish reading.
    const stopped = until('a criu lazy-pages process', async () => lazyPages()[0], 60_000).then((pid) => {
      process.kill(pid, 'SIGSTOP');
      return pid;
    });
    const branching = restoreTimed(t, 'lazy-early', 'lazy-branch');
    const pid = await stopped;

    held.release();
    await until('the snapshot to be durable', async () => ((await status(t, 'lazy-early')) === 'ready' ? true : undefined), 120_000);
    assert.ok(existsSync(staging), 'the restore still reads its staging area');
    const report = await t.api.call('doctorConsistency', { query: {} });
    assert.deepEqual(report.problems, [], JSON.stringify(report.problems));

    process.kill(pid, 'SIGCONT');
    const branch = await branching;
    assertStaged(branch);
    await until('the page daemon to finish', async () => (lazyPages().includes(pid) ? undefined : true), 60_000);
    await released(t, staging, 60_000);
    assert.equal(await heldSha(t, 'lazy-branch'), sha, 'the branch got every page');
    await t.api.call('destroySandbox', { params: { name: 'lazy-branch' } });
    await t.api.call('deleteSnapshot', { params: { name: 'lazy-early' } });
  });
});

describe('the durable copy fails after a branch from the staging area', () => {
  let t: TestDaemon;
  let store: string;
  let sha = '';
  let sandboxId = '';
  before(async () => {
    // The snapshot store on a 4 MB tmpfs: the copy of a sandbox holding 64 MiB cannot fit (the staging area is elsewhere).
    store = mkdtempSync(join(tmpdir(), 'bothub-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', store]);
    t = await startTestDaemon({ snapshotsDir: store });
    sandboxId = (await t.api.call('createSandbox', { body: { name: 'fat', memoryMb: 512 } })).id;
    sha = await startHolding(t, 'fat', 64);
  });
  after(async () => {
    releaseHolds();
    await t.cleanup();
    execFileSync('umount', [store]);
    rmSync(store, { recursive: true, force: true });
  });

  it('the branch runs on with its state; the snapshot is gone and its staging area released', async () => {
    const held = holdIngests(t);
    const snap = await snapshot(t, 'fat', 'doomed', true);
    assert.equal(snap.status, 'saving');
    const staging = stagingOf(t, snap, sandboxId)!;
    const branch = await restoreTimed(t, 'doomed', 'survivor');
    assertStaged(branch);

    held.release();
    await until('the failed snapshot to be gone', async () => ((await status(t, 'doomed')) === undefined ? true : undefined), 120_000);
    await released(t, staging, 60_000);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'survivor' } })).status, 'running');
    assert.equal(await heldSha(t, 'survivor'), sha, 'the branch keeps the memory it was restored with');
    assert.equal(await sh(t, 'fat', 'echo alive'), 'alive\n');
    assert.deepEqual(
      readdirSync(store).filter((e) => e !== '.chunks'),
      [],
      'nothing partial left in the store',
    );
  });
});
