import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { databaseTarget } from '../daemon/config.js';
import { openDatabase, type Db } from '../daemon/db/database.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { memoryIntact, startMemoryHolder } from './helpers/memory-holder.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

const MiB = 1 << 20;


describe('snapshots through the deduplicated store', () => {
  let t: TestDaemon;
  const stored = async () => (await t.api.call('doctor')).store!;
  const listed = async (name: string) => (await t.api.call('listSnapshots', { query: {} })).find((s) => s.name === name);
  const whenReady = (name: string) => until(`${name} to be ready`, async () => ((await listed(name))?.status === 'ready' ? true : undefined), 120_000);

  before(async () => {
    t = await startTestDaemon();
    await t.api.call('createSandbox', { body: { name: 'keeper', memoryMb: 512 } });
    await startMemoryHolder(t, 'keeper');
  });
  after(async () => {
    await t.cleanup();
  });

  it('a leave-running snapshot answers while saving, restores at once (from its staging area), and state survives a branch and a resume', async () => {
    const first = await snapshot(t, 'keeper', 'k1', true);
    assert.ok(first.status === 'saving' || first.status === 'ready', first.status);
    assert.ok((first.frozenMs ?? 0) > 0);
    // Restoring at once reads the staging area, without waiting for the durable copy (staged-restore.test.ts).
    await restore(t, 'k1', 'k1-branch');
    await whenReady('k1');
    await memoryIntact(t, 'k1-branch');
    await t.api.call('destroySandbox', { params: { name: 'k1-branch' } });
    const store = await stored();
    assert.ok(store.storedBytes >= 24 * MiB, `the store holds ${store.storedBytes} bytes`);

  });

  it('a second snapshot with 10 MiB changed adds about 10 MiB, and deleting keeps what is still referenced', async () => {
    await snapshot(t, 'keeper', 'base', true);
    await whenReady('base');
    const before = await stored();
    await sh(t, 'keeper', `head -c ${10 * MiB} /dev/urandom > /root/changed`);
    await snapshot(t, 'keeper', 'next', true);
    await whenReady('next');
    const after = await stored();
    const added = after.storedBytes - before.storedBytes;
    process.stderr.write(`# a second snapshot after 10 MiB changed added ${(added / MiB).toFixed(2)} MiB to the store (of ${((after.logicalBytes - before.logicalBytes) / MiB).toFixed(1)} MiB)\n`);
    assert.ok(added >= 10 * MiB && added < 16 * MiB, `the second snapshot added ${(added / MiB).toFixed(1)} MiB`);
    assert.ok(after.savedBytes > 20 * MiB, 'deduplication saved the unchanged memory');
    const next = (await listed('next'))!;
    assert.ok(next.uniqueBytes! >= 10 * MiB && next.uniqueBytes! < next.sizeBytes / 2, `next alone holds ${next.uniqueBytes}`);

    // Deleting the first frees only what it alone held; the second still restores, memory and all.
    await t.api.call('deleteSnapshot', { params: { name: 'base' } });
    await t.api.call('deleteSnapshot', { params: { name: 'k1' } });
    const afterDelete = await stored();
    assert.ok(afterDelete.storedBytes < after.storedBytes);
    assert.equal(afterDelete.logicalBytes, next.sizeBytes);
    assert.equal(afterDelete.storedBytes, afterDelete.logicalBytes - afterDelete.savedBytes);
    await snapshot(t, 'keeper', 'stopped');
    assert.equal((await t.api.call('getSandbox', { params: { name: 'keeper' } })).status, 'snapshotted');
    await restore(t, 'stopped');
    await memoryIntact(t, 'keeper');
    await restore(t, 'next', 'from-next');
    await memoryIntact(t, 'from-next');
    assert.equal(await sh(t, 'from-next', 'wc -c < /root/changed'), `${10 * MiB}\n`);
    await t.api.call('destroySandbox', { params: { name: 'from-next' } });
    for (const s of ['next', 'stopped']) await t.api.call('deleteSnapshot', { params: { name: s } });
    assert.equal((await stored()).chunks, 0, 'no snapshot left: no chunk left');
    const chunkDirs = readdirSync(join(t.daemon.ctx.snapshots.dir, '.chunks')).filter((e) => e !== '.tmp');
    assert.ok(chunkDirs.every((d) => readdirSync(join(t.daemon.ctx.snapshots.dir, '.chunks', d)).length === 0), 'the collector emptied the store');
  });

  it('a snapshot cut short before it was durable is neither listed nor restorable after a restart, and the sandbox runs on', async () => {
    const sb = await t.api.call('getSandbox', { params: { name: 'keeper' } });
    await t.daemon.close();
    const db: Db = await openDatabase(databaseTarget(t.config));
    await db
      .insertInto('snapshots')
      .values({ id: 'abcdefabcdef', name: 'half', sandbox_id: sb.id, sandbox_name: 'keeper', size_bytes: 1, leave_running: 0, created_at: new Date().toISOString(), owner_id: null, status: 'saving', host: 'local', spec_json: null })
      .execute()
      .finally(() => db.destroy());
    await t.restart();
    assert.equal(await listed('half'), undefined);
    await assert.rejects(restore(t, 'half'), /no snapshot named "half"/);
    assert.equal(existsSync(join(t.daemon.ctx.snapshots.dir, 'abcdefabcdef')), false);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'keeper' } })).status, 'running');
    await memoryIntact(t, 'keeper');
    await t.api.call('destroySandbox', { params: { name: 'keeper' } });
  });
});
