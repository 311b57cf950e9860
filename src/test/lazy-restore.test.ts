import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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

const lazyPagesProcesses = () => ourDescendants(/criu lazy-pages/);

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
    sha = await startHolding(t, 'lazy', 64);
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

    await restore(t, 'lazy-1', 'lazy-branch');
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

  it('killing the page daemon mid-restore leaves no branch running: it fails, or is stopped with an event; the snapshot restores again', async () => {
    await snapshot(t, 'lazy', 'lazy-kill', true);
    const stopping = stopNextLazyDaemon();
    const branching = restore(t, 'lazy-kill', 'doomed').then(
      () => undefined,
      (e: Error) => e,
    );
    process.kill(await stopping, 'SIGKILL');
    const failure = await branching;
    const doomed = await until(
      'the branch to be gone or stopped',
      async () => {
        const s = await t.api.call('getSandbox', { params: { name: 'doomed' } }).catch(() => null);
        return s === null || s.status === 'stopped' ? { s } : undefined;
      },
      60_000,
    );
    if (doomed.s) {
      // The restore got through before the page daemon died: the branch was killed after it.
      assert.equal(failure, undefined);
      assert.match(doomed.s.statusReason ?? '', /memory could not be read back from snapshot "lazy-kill"/);
      const events = await t.api.call('listEvents', { query: { sandbox: 'doomed' } });
      assert.ok(events.some((e) => e.type === 'lazy-restore-failed'), `a lazy-restore-failed event among ${events.map((e) => e.type).join(', ')}`);
      await t.api.call('destroySandbox', { params: { name: 'doomed' } });
    } else assert.ok(failure, 'a branch that is gone was answered with an error');
    await until('no page daemon to be left', async () => (lazyPagesProcesses().length ? undefined : true));

    await restore(t, 'lazy-kill', 'second-try');
    assert.equal(await heldSha(t, 'second-try'), sha);
    await t.api.call('destroySandbox', { params: { name: 'second-try' } });
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
