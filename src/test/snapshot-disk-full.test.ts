import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { sh, snapshot, until } from './helpers/sandbox.js';

describe('a full disk during a snapshot', () => {
  let t: TestDaemon;
  let store: string;
  before(async () => {
    // The snapshot store on a 4 MB tmpfs: a 64 MB sandbox cannot fit.
    store = mkdtempSync(join(tmpdir(), 'bothub-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', store]);
    t = await startTestDaemon({ snapshotsDir: store });
  });
  after(async () => {
    await t.cleanup();
    execFileSync('umount', [store]);
    rmSync(store, { recursive: true, force: true });
  });

  it('gives a clear error, keeps the sandbox running and lists no snapshot', async () => {
    await t.api.call('createSandbox', { body: { name: 'fat', memoryMb: 512 } });
    await sh(t, 'fat', "nohup python3 -c \"import os, time; d = os.urandom(64 * 1024 * 1024); open('/tmp/ready','w').close(); time.sleep(10**6)\" >/dev/null 2>&1 &");
    await until('the allocation', async () => ((await sh(t, 'fat', 'test -e /tmp/ready && echo y || true')) ? true : undefined), 30_000);
    await assert.rejects(snapshot(t, 'fat', 'too-big'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'LIMIT_EXCEEDED');
      assert.match(e.message, /the disk holding snapshots is full; free space there/);
      return true;
    });
    assert.equal((await t.api.call('getSandbox', { params: { name: 'fat' } })).status, 'running');
    assert.equal(await sh(t, 'fat', 'test -e /tmp/ready && echo alive'), 'alive\n');
    assert.deepEqual(await t.api.call('listSnapshots', { query: {} }), []);
    assert.deepEqual(
      readdirSync(store).filter((e) => e !== '.chunks'),
      [],
      'nothing partial left in the store',
    );
    const chunks = readdirSync(join(store, '.chunks'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.deepEqual(chunks, [], 'the chunks of the failed snapshot were collected');
  });
});
