import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SnapshotManifest } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { ourDescendants } from './helpers/processes.js';
import { heldSha, startHolding, ticks } from './helpers/held-memory.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

/** The held bytes, the tick counter that moves on from where it was, and a file: all as they were. */
async function assertStateKept(t: TestDaemon, name: string, sha: string, ticksBefore: number): Promise<void> {
  assert.equal(await heldSha(t, name), sha, `the memory of ${name} is as it was`);
  assert.equal(await sh(t, name, 'cat /root/note'), 'kept\n');
  const now = await ticks(t, name);
  assert.ok(now >= ticksBefore, `${name} counts on from ${ticksBefore} (now ${now})`);
  await until(`${name} to tick on`, async () => ((await ticks(t, name)) > now ? true : undefined));
}

/** CRIU's lazy-pages itself, not the bothub-lazy-guard whose command line names it. */
const lazyPagesProcesses = () => ourDescendants(/^(?!\S*bothub-lazy-guard).*criu lazy-pages/);
const guards = () => ourDescendants(/^\S*bothub-lazy-guard /);

const flipMiddleByte = (bytes: Buffer) => bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);

/**
 * A branch whose page source failed never runs on: either its restore was
 * answered with an error matching `failed` (and the branch is gone), or the
 * restore got through first and the branch was then stopped with `stopped`
 * as its reason and a lazy-restore-failed event. Destroys what is left.
 */
async function branchEnded(t: TestDaemon, name: string, failure: Error | undefined, stopped: RegExp, failed: RegExp): Promise<void> {
  const { s } = await until(
    `${name} to be gone or stopped`,
    async () => {
      const s = await t.api.call('getSandbox', { params: { name } }).catch(() => null);
      return s === null || s.status === 'stopped' ? { s } : undefined;
    },
    60_000,
  );
  if (!s) return assert.match(failure?.message ?? '', failed, `a branch that is gone was answered with an error`);
  assert.equal(failure, undefined);
  assert.match(s.statusReason ?? '', stopped);
  const events = await t.api.call('listEvents', { query: { sandbox: name } });
  assert.ok(events.some((e) => e.type === 'lazy-restore-failed'), `a lazy-restore-failed event among ${events.map((e) => e.type).join(', ')}`);
  await t.api.call('destroySandbox', { params: { name } });
}

/** Waits until a snapshot is durable in the store: one restored while 'saving' reads its staging area, whole. */
const durable = (t: TestDaemon, name: string) =>
  until(`snapshot ${name} to be ready`, async () => ((await t.api.call('getSnapshot', { params: { name } })).status === 'ready' ? true : undefined), 60_000);

/** The held memory's pages image of a snapshot: its path in the store, for one chunk in the middle (lazily restored, not read before the sandbox runs). */
function middlePageChunk(t: TestDaemon, snapshotId: string): string {
  const manifest = JSON.parse(readFileSync(join(t.daemon.ctx.snapshots.dirOf(snapshotId), 'manifest.json'), 'utf8')) as SnapshotManifest;
  const pages = Object.entries(manifest.files)
    .filter(([rel]) => /^criu\/pages-\d+\.img$/.test(rel))
    .sort(([, a], [, b]) => b.size - a.size)[0]![1];
  const chunk = pages.chunks![pages.chunks!.length >> 1]!;
  return join(t.daemon.ctx.snapshots.dir, '.chunks', chunk.slice(0, 2), chunk);
}

/** Stops the next lazy-pages daemon as soon as it appears (before it can serve a page), and gives its PID. */
async function stopNextLazyDaemon(): Promise<number> {
  const pid = await until('a criu lazy-pages process', async () => lazyPagesProcesses()[0], 60_000);
  process.kill(pid, 'SIGSTOP');
  return pid;
}

describe('lazy restores (CRIU lazy pages over userfaultfd)', () => {
  let t: TestDaemon;
  let sha = '';
  before(async () => {
    t = await startTestDaemon({ lazyRestore: true });
    await t.api.call('createSandbox', { body: { name: 'lazy', memoryMb: 512 } });
    await sh(t, 'lazy', 'echo kept > /root/note');
    // Above LAZY_MIN_BYTES (64 MiB), so that its restores are lazy.
    sha = await startHolding(t, 'lazy', 96);
  });
  after(async () => {
    for (const pid of lazyPagesProcesses()) process.kill(pid, 'SIGCONT');
    await t.cleanup();
  });

  it('memory, a counter and files survive resume, branch, and cold → wake, with lazy pages', async () => {
    const before = await ticks(t, 'lazy');
    await snapshot(t, 'lazy', 'lazy-1');
    await restore(t, 'lazy-1');
    await assertStateKept(t, 'lazy', sha, before);

    await durable(t, 'lazy-1');
    // Its pages are served from the store's chunks, through the guard: no pages image is put together first.
    let guarded = false;
    const watching = until('a lazy-pages guard', async () => (guards().length ? (guarded = true) : undefined), 60_000).catch(() => undefined);
    await restore(t, 'lazy-1', 'lazy-branch');
    await watching;
    assert.ok(guarded, 'the branch was restored through bothub-lazy-guard and the page server');
    await assertStateKept(t, 'lazy-branch', sha, before);
    await t.api.call('destroySandbox', { params: { name: 'lazy-branch' } });

    const beforeCold = await ticks(t, 'lazy');
    assert.equal((await t.api.call('freezeSandbox', { params: { name: 'lazy' } })).thermal, 'cold');
    await assertStateKept(t, 'lazy', sha, beforeCold); // the first exec wakes it
    // The page daemons are done and gone: nothing streams, nothing is pinned.
    await until('the page daemons to exit', async () => (lazyPagesProcesses().length ? undefined : true));
    await t.api.call('deleteSnapshot', { params: { name: 'lazy-1' } });
  });

  it('a snapshot being read by a lazy restore cannot be deleted until every page is in', async () => {
    await snapshot(t, 'lazy', 'lazy-pin', true);
    const stopping = stopNextLazyDaemon();
    const branching = restore(t, 'lazy-pin', 'pinned-branch');
    const pid = await stopping;
    await assert.rejects(t.api.call('deleteSnapshot', { params: { name: 'lazy-pin' } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'IN_USE');
      assert.match(e.message, /every page of memory is in/);
      return true;
    });
    process.kill(pid, 'SIGCONT');
    await branching;
    await until('the page daemon to finish', async () => (lazyPagesProcesses().includes(pid) ? undefined : true), 60_000);
    await until('the delete to be allowed', () => t.api.call('deleteSnapshot', { params: { name: 'lazy-pin' } }).then(() => true));
    assert.equal(await heldSha(t, 'pinned-branch'), sha, 'the branch got every page');
    await t.api.call('destroySandbox', { params: { name: 'pinned-branch' } });
  });

  it('a branch destroyed while its pages stream in lets go of the snapshot: a delete right after succeeds', async () => {
    await snapshot(t, 'lazy', 'lazy-gone', true);
    await durable(t, 'lazy-gone');
    await restore(t, 'lazy-gone', 'short-lived');
    // Held still, so the branch is destroyed with pages not yet in and the snapshot still pinned.
    const [criu] = lazyPagesProcesses();
    assert.ok(criu, 'the branch streams its pages');
    process.kill(criu, 'SIGSTOP');
    await t.api.call('destroySandbox', { params: { name: 'short-lived' } });
    process.kill(criu, 'SIGCONT');
    await t.api.call('deleteSnapshot', { params: { name: 'lazy-gone' } });
    assert.ok(!(await t.api.call('listSnapshots', { query: {} })).some((x) => x.name === 'lazy-gone'));
  });

  it('killing the page daemon mid-restore leaves no branch running: it fails, or is stopped with an event; the snapshot restores again', async () => {
    await snapshot(t, 'lazy', 'lazy-kill', true);
    const stopping = stopNextLazyDaemon();
    const branching = restore(t, 'lazy-kill', 'doomed').then(
      () => undefined,
      (e: Error) => e,
    );
    process.kill(await stopping, 'SIGKILL');
    await branchEnded(t, 'doomed', await branching, /memory could not be read back from snapshot "lazy-kill"/, /./);
    await until('no page daemon to be left', async () => (lazyPagesProcesses().length ? undefined : true));

    await restore(t, 'lazy-kill', 'second-try');
    assert.equal(await heldSha(t, 'second-try'), sha);
    await t.api.call('destroySandbox', { params: { name: 'second-try' } });
  });

  it('a chunk found damaged while the pages stream in: the branch is stopped with an event naming the snapshot, never left running', async () => {
    const snap = await snapshot(t, 'lazy', 'lazy-rot', true);
    await durable(t, 'lazy-rot');
    const file = middlePageChunk(t, snap.id);
    const bytes = readFileSync(file);
    flipMiddleByte(bytes);
    writeFileSync(file, bytes);
    // The chunk is read after the sandbox runs (then it is stopped), or, if CRIU asks for it first, during the restore (which fails).
    const failure = await restore(t, 'lazy-rot', 'rotten').then(
      () => undefined,
      (e: Error) => e,
    );
    const damaged = /snapshot "lazy-rot" is damaged \(criu\/pages-\d+\.img: chunk [0-9a-f]{12}… does not match its checksum\)/;
    await branchEnded(t, 'rotten', failure, new RegExp(`memory could not be read back from snapshot "lazy-rot" \\(.*${damaged.source}`), damaged);
    await until('no page daemon to be left', async () => (lazyPagesProcesses().length + guards().length ? undefined : true));
    flipMiddleByte(bytes);
    writeFileSync(file, bytes);
    await restore(t, 'lazy-rot', 'mended');
    assert.equal(await heldSha(t, 'mended'), sha);
    await t.api.call('destroySandbox', { params: { name: 'mended' } });
  });

  it('killing the page daemon during a wake leaves the sandbox cold; the next request wakes it whole', async () => {
    const before = await ticks(t, 'lazy');
    await t.api.call('freezeSandbox', { params: { name: 'lazy' } });
    const stopping = stopNextLazyDaemon();
    const waking = t.api.call('resumeSandbox', { params: { name: 'lazy' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    process.kill(await stopping, 'SIGKILL');
    await waking;
    const cold = await until(
      'the sandbox to be cold',
      async () => {
        const s = await t.api.call('getSandbox', { params: { name: 'lazy' } });
        return s.thermal === 'cold' ? s : undefined;
      },
      60_000,
    );
    assert.equal(cold.status, 'running');
    const events = await t.api.call('listEvents', { query: { sandbox: 'lazy' } });
    assert.ok(events.some((e) => e.type === 'lazy-restore-failed' || e.type === 'wake-failed'));
    await assertStateKept(t, 'lazy', sha, before);
  });
});
