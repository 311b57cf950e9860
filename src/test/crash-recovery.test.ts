import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { databaseTarget } from '../daemon/config.js';
import { openDatabase, type Db } from '../daemon/db/database.js';
import { DESTROY_CUT_SHORT } from '../daemon/services/sandbox-service.js';
import { containerId } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

const cgroup = (id: string) => (existsSync('/sys/fs/cgroup/memory') ? `/sys/fs/cgroup/pids/bothub/${id}` : `/sys/fs/cgroup/bothub/${id}`);

/**
 * What `kill -9` of the daemon leaves in the windows the chaos run
 * (src/bench/chaos.ts) found, made by hand: each is what the disk and the
 * records hold when the daemon died at that point. The next start must put
 * it right, and `doctor --consistency` must then find nothing.
 */
describe('start-up recovery of operations a crash cut short', () => {
  let t: TestDaemon;
  /** The records as the dead daemon left them: written with the daemon stopped. */
  const offline = async (fn: (db: Db) => Promise<unknown>) => {
    const db = await openDatabase(databaseTarget(t.config));
    await fn(db).finally(() => db.destroy());
  };
  const setRow = (id: string, values: Record<string, unknown>) => offline((db) => db.updateTable('sandboxes').set(values).where('id', '=', id).execute());
  const consistent = async () => assert.deepEqual((await t.api.call('doctorConsistency', { query: {} })).problems, []);
  /** A process that must survive: its PID is written down. */
  const holdProcess = async (name: string) => sh(t, name, 'nohup sleep 100000 >/dev/null 2>&1 & echo $! > /root/held.pid');
  const stillHeld = async (name: string) => assert.equal(await sh(t, name, 'kill -0 $(cat /root/held.pid) && echo alive'), 'alive\n');

  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('a destroy cut short (its cold checkpoint already deleted) is finished at the next start', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'doomed' } });
    await t.api.call('freezeSandbox', { params: { name: 'doomed' } });
    await t.daemon.close();
    rmSync(t.daemon.ctx.thermal.coldDir(sb.id), { recursive: true });
    await setRow(sb.id, { status: 'error', status_reason: DESTROY_CUT_SHORT });
    await t.restart();
    assert.deepEqual(await t.api.call('listSandboxes'), []);
    await consistent();
  });

  it('a freeze cut short after its checkpoint: the sandbox is cold, and wakes with its processes', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'freezer' } });
    await holdProcess('freezer');
    await t.api.call('freezeSandbox', { params: { name: 'freezer' } });
    await t.daemon.close();
    await setRow(sb.id, { thermal: 'hot' }); // the record was not updated yet
    await t.restart();
    assert.equal((await t.api.call('getSandbox', { params: { name: 'freezer' } })).thermal, 'cold');
    await consistent();
    await stillHeld('freezer');
    await t.api.call('destroySandbox', { params: { name: 'freezer' } });
  });

  it('a wake of a warm sandbox cut short after its container ran again: the record follows, hot', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'warmer' } });
    await holdProcess('warmer');
    await t.daemon.close();
    await setRow(sb.id, { thermal: 'warm' }); // runc resume done, the record not updated yet
    await t.restart();
    assert.equal((await t.api.call('getSandbox', { params: { name: 'warmer' } })).thermal, 'hot');
    await consistent();
    await stillHeld('warmer');
    await t.api.call('destroySandbox', { params: { name: 'warmer' } });
  });

  it('a wake cut short after its restore: the sandbox is hot and its checkpoint goes', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'waker' } });
    await holdProcess('waker');
    await t.api.call('freezeSandbox', { params: { name: 'waker' } });
    const cold = t.daemon.ctx.thermal.coldDir(sb.id);
    cpSync(cold, `${cold}.kept`, { recursive: true });
    await t.api.call('resumeSandbox', { params: { name: 'waker' } });
    await t.daemon.close();
    renameSync(`${cold}.kept`, cold); // not yet deleted
    await setRow(sb.id, { thermal: 'cold' }); // nor the record updated
    await t.restart();
    assert.equal((await t.api.call('getSandbox', { params: { name: 'waker' } })).thermal, 'hot');
    assert.equal(existsSync(cold), false);
    await consistent();
    await stillHeld('waker');
    await t.api.call('destroySandbox', { params: { name: 'waker' } });
  });

  it('a stopping snapshot cut short after its dump, before it was durable: the processes it ended come back (cold), no snapshot appears', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'snapper' } });
    await holdProcess('snapper');
    const snap = await snapshot(t, 'snapper', 'unrecorded');
    // What the dead daemon left: the dump in its staging area, the snapshot still 'saving'.
    const snapshots = t.daemon.ctx.snapshots;
    const row = await snapshots.row('unrecorded', { id: 'admin', name: 'admin', admin: true });
    const images = await snapshots.materialize(row, await snapshots.manifest(row), {});
    cpSync(images.dir, join(t.config.dataDir, 'snapshot-staging', `.partial-${snap.id}.${sb.id}.staging`), { recursive: true });
    await images.release();
    await t.daemon.close();
    await offline((db) => db.updateTable('snapshots').set({ status: 'saving' }).where('id', '=', snap.id).execute());
    rmSync(snapshots.dirOf(snap.id), { recursive: true });
    await setRow(sb.id, { status: 'running', status_reason: null, snapshot_id: null });
    await t.restart();
    assert.deepEqual(await t.api.call('listSnapshots', { query: {} }), []);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'snapper' } })).thermal, 'cold');
    await consistent();
    await stillHeld('snapper');
    await t.api.call('destroySandbox', { params: { name: 'snapper' } });
  });

  it("a leave-running snapshot answered 'saving', its durable copy cut short: finished from its staging area at the next start, and it restores", async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'saver' } });
    await holdProcess('saver');
    const snap = await snapshot(t, 'saver', 'answered', true);
    // What the dead daemon left: the dump in its staging tmpfs with its sidecar, the record 'saving', no durable copy.
    const snapshots = t.daemon.ctx.snapshots;
    const row = await snapshots.readyRow('answered', { id: 'admin', name: 'admin', admin: true }, {});
    const manifest = await snapshots.manifest(row);
    const described = { ...manifest, files: undefined, sizeBytes: undefined };
    const images = await snapshots.materialize(row, manifest, {});
    const staged = join(t.config.dataDir, 'snapshot-staging', `.partial-${snap.id}.${sb.id}.staging`);
    cpSync(images.dir, staged, { recursive: true });
    writeFileSync(`${staged}.pending.json`, JSON.stringify(described));
    await images.release();
    await t.daemon.close();
    await offline(async (db) => {
      await db.updateTable('snapshots').set({ status: 'saving' }).where('id', '=', snap.id).execute();
      await db.deleteFrom('snapshot_chunks').where('snapshot_id', '=', snap.id).execute();
    });
    // Its directory stays: the cut-short copy had renamed it into place, and is finished again over it.
    await t.restart();
    await until('the snapshot to be made durable again', async () => ((await t.api.call('listSnapshots', { query: {} })).find((s) => s.name === 'answered' && s.status === 'ready') ? true : undefined), 120_000);
    // Released just after the snapshot turns ready.
    await until('its staging area and sidecar to go', async () => (existsSync(staged) || existsSync(`${staged}.pending.json`) ? undefined : true), 30_000);
    await consistent();
    await t.api.call('destroySandbox', { params: { name: 'saver' } });
    await restore(t, 'answered', 'saver');
    await stillHeld('saver');
    await t.api.call('destroySandbox', { params: { name: 'saver' } });
    await t.api.call('deleteSnapshot', { params: { name: 'answered' } });
  });

  it('a stopping snapshot recorded but its sandbox not yet marked: the sandbox is stopped into it and restores', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'marker' } });
    await holdProcess('marker');
    await snapshot(t, 'marker', 'recorded');
    await t.daemon.close();
    await setRow(sb.id, { status: 'running', status_reason: null, snapshot_id: null });
    await t.restart();
    assert.equal((await t.api.call('getSandbox', { params: { name: 'marker' } })).status, 'snapshotted');
    await consistent();
    await restore(t, 'recorded');
    await stillHeld('marker');
    await t.api.call('destroySandbox', { params: { name: 'marker' } });
    await t.api.call('deleteSnapshot', { params: { name: 'recorded' } });
  });

  it("a restore cut short: runc's state dir with CRIU's root mount and a cgroup are removed, and the sandbox starts", async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'remains' } });
    await t.api.call('stopSandbox', { params: { name: 'remains' } });
    await t.daemon.close();
    const stateDir = join(t.config.dataDir, 'runc', containerId(sb.id));
    mkdirSync(join(stateDir, 'criu-root'), { recursive: true });
    execFileSync('mount', ['--bind', join(t.config.dataDir, 'sandboxes', sb.id, 'etc'), join(stateDir, 'criu-root')]);
    mkdirSync(cgroup(sb.id), { recursive: true });
    await t.restart();
    assert.equal(existsSync(stateDir), false);
    assert.equal(existsSync(cgroup(sb.id)), false);
    await consistent();
    await t.api.call('startSandbox', { params: { name: 'remains' } });
    assert.equal(await sh(t, 'remains', 'echo up'), 'up\n');
    await t.api.call('destroySandbox', { params: { name: 'remains' } });
  });
});
