import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ApiClient, type ConsistencyReportT, type SandboxT, type SnapshotT } from '../api/index.js';
import { BothubError } from '../core/index.js';
import { Leases } from '../daemon/cluster/leases.js';
import { SandboxLock } from '../daemon/cluster/sandbox-lock.js';
import { openDatabase } from '../daemon/db/database.js';
import { cli } from './helpers/cli.js';
import { addHostThrough, leadsByItsLog, startDaemonCluster, type DaemonCluster } from './helpers/daemon-cluster.js';
import type { DaemonProcess } from './helpers/daemon-process.js';
import { until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

const run = async (d: DaemonProcess | ApiClient, name: string, script: string) => {
  const api = d instanceof ApiClient ? d : d.api;
  const r = await api.call('exec', { params: { name }, body: { command: ['sh', '-c', script] } });
  assert.equal(r.exitCode, 0, `exec in ${name} through ${api.url('exec', { name })}: ${r.stderr}`);
  return r.stdout;
};

const isCode = (code: string, message?: RegExp) => (e: BothubError) => e.code === code && (!message || message.test(e.message)) && !e.message.includes('\n');

/** A heartbeat round that fails (10 s without an answer, on a loaded machine) is followed by another: several may pass before one succeeds. */
const HEARTBEAT_WAIT_MS = 60_000;

/** When the heartbeat last heard from the host, as any daemon reports it. */
const lastSeen = async (d: DaemonProcess) => Date.parse((await d.api.call('getHost', { params: { name: 'h1' } })).lastSeenAt ?? '0');

describe('three daemons on one PostgreSQL database, sandboxes on a fleet host', () => {
  let c: DaemonCluster;
  let host: TestSshHost;
  let a: DaemonProcess, b: DaemonProcess, cc: DaemonProcess;
  before(async () => {
    host = await startSshHost();
    c = await startDaemonCluster(3, { BOTHUB_HEARTBEAT: '1s' });
    [a, b, cc] = c.daemons as [DaemonProcess, DaemonProcess, DaemonProcess];
    await addHostThrough(a, 'h1', host);
  });
  after(async () => {
    try {
      await c?.stop();
    } finally {
      await host?.cleanup();
    }
  });

  /** Every daemon's consistency check finds the records and the host in agreement. */
  const consistent = async () => {
    for (const d of c.daemons) {
      const report: ConsistencyReportT = await d.api.call('doctorConsistency', { query: {} });
      assert.deepEqual(report.problems, [], `${d.url}: ${JSON.stringify(report.problems)}`);
      assert.equal(report.ok, true);
    }
  };

  it('exactly one daemon leads, and the timers (the heartbeats) run', async () => {
    const leader = await c.awaitLeader();
    assert.ok(c.daemons.includes(leader));
    // The lease is one row; the daemons agree: the one it names is the one that says it leads.
    await until('the daemons to agree on the leader', async () => {
      const leading = c.daemons.filter((_, i) => leadsByItsLog(c.logs[i]!));
      return leading.length === 1 && leading[0] === (await c.leader()) ? true : undefined;
    });
    const before = await lastSeen(b);
    await until('a heartbeat to reach the host', async () => ((await lastSeen(cc)) > before ? true : undefined), HEARTBEAT_WAIT_MS);
  });

  it('a sandbox created through A runs on the fleet host; B execs in it, C snapshots it', async () => {
    const sb = await a.api.call('createSandbox', { body: { name: 'shared' } });
    assert.equal(sb.host, 'h1', 'a control plane runs no sandbox itself');
    await run(a, 'shared', 'echo from-a > /root/note');
    assert.equal(await run(b, 'shared', 'cat /root/note'), 'from-a\n');
    const snap = await cc.api.progress<SnapshotT>('createSnapshot', { params: { name: 'shared' }, body: { name: 'shared-1', leaveRunning: true } }, () => undefined);
    assert.equal(snap.name, 'shared-1');
    assert.equal(await run(cc, 'shared', 'cat /root/note'), 'from-a\n', 'still running after the snapshot');
    for (const d of c.daemons) assert.equal((await d.api.call('getSandbox', { params: { name: 'shared' } })).host, 'h1');
    // A port published through one daemon is served by every one (the record says which host; the proxy goes through SSH from there).
    await run(a, 'shared', 'cd /root && nohup python3 -m http.server 8000 >/dev/null 2>&1 &');
    await b.api.call('publish', { params: { name: 'shared' }, body: { port: 8000, public: true } });
    for (const d of c.daemons) {
      const page = await until(`the preview through ${d.url}`, async () => {
        const r = await fetch(`${d.url}/p/shared/8000/note`);
        return r.ok ? r.text() : undefined;
      });
      assert.equal(page, 'from-a\n');
    }
    // Asked for explicitly, this machine is refused with what to do instead.
    await assert.rejects(a.api.call('createSandbox', { body: { name: 'here', host: 'local' } }), (e: BothubError) => e.code === 'INVALID_INPUT' && /fleet host/.test(e.message));
    await consistent();
  });

  it('a snapshot a fleet host keeps is listed, read, restored and deleted through every daemon, by its owner only', async () => {
    const { key: aliceKey } = await a.api.call('createUser', { body: { name: 'alice' } });
    const { key: bobKey } = await b.api.call('createUser', { body: { name: 'bob' } });
    const [aliceA, aliceB, aliceC] = [a, b, cc].map((d) => new ApiClient(d.url, { token: aliceKey })) as [ApiClient, ApiClient, ApiClient];
    const bob = new ApiClient(b.url, { token: bobKey });
    await aliceA.call('createSandbox', { body: { name: 'alice-box' } });
    await run(aliceA, 'alice-box', 'echo kept > /root/note');
    const snapshot = (api: ApiClient, name: string, leaveRunning: boolean) =>
      api.progress<SnapshotT>('createSnapshot', { params: { name: 'alice-box' }, body: { name, leaveRunning } }, () => undefined);
    const restore = (api: ApiClient, snap: string, body: { name?: string; host?: string }) =>
      api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body }, () => undefined);

    // Taken through C by the host's agent; its record is shared.
    const snap = await snapshot(aliceC, 'alice-snap', true);
    assert.equal(snap.keptOn, 'h1');
    for (const api of [aliceA, aliceB]) {
      const listed = (await api.call('listSnapshots', { query: {} })).find((x) => x.name === 'alice-snap');
      assert.equal(listed?.keptOn, 'h1');
      assert.equal(listed?.sandbox, 'alice-box');
    }
    // The CLI's list says which host keeps it.
    const listed = await cli(b.url, ['snapshot', 'list'], undefined, { BOTHUB_TOKEN: aliceKey });
    assert.match(listed.stdout, /^alice-snap\s+alice-box\s+\w+\s+h1\s/m, listed.stderr);
    const got = await until('the snapshot to be durable on its host', async () => {
      const x = await aliceB.call('getSnapshot', { params: { name: 'alice-snap' } });
      return x.status === 'ready' ? x : undefined;
    });
    assert.equal(got.keptOn, 'h1');
    assert.ok(got.host?.criuVersion, 'what its manifest says comes from the agent');
    assert.ok(got.sizeBytes > 0);

    // Another user sees none of it.
    assert.deepEqual(await bob.call('listSnapshots', { query: {} }), []);
    for (const refused of [
      () => bob.call('getSnapshot', { params: { name: 'alice-snap' } }),
      () => bob.call('deleteSnapshot', { params: { name: 'alice-snap' } }),
      () => restore(bob, 'alice-snap', { name: 'bobs' }),
    ])
      await assert.rejects(refused(), isCode('NOT_FOUND'));

    // The snapshot quota counts it, as one kept here.
    await a.api.call('setUserQuota', { params: { name: 'alice' }, body: { maxSnapshotBytes: 1 } });
    await assert.rejects(snapshot(aliceB, 'alice-over', true), isCode('LIMIT_EXCEEDED', /maxSnapshotBytes/));
    await a.api.call('setUserQuota', { params: { name: 'alice' }, body: { maxSnapshotBytes: null } });

    // A branch through B runs on the host that keeps the snapshot; A execs in it.
    const branch = await restore(aliceB, 'alice-snap', { name: 'alice-branch' });
    assert.equal(branch.host, 'h1');
    assert.equal(branch.owner, 'alice');
    assert.equal(await run(aliceA, 'alice-branch', 'cat /root/note'), 'kept\n');
    // Restored on this machine (a control plane), or on a host that does not exist: refused, saying what to do
    // (another fleet host gets a copy: kept-snapshot-hosts.test.ts).
    await assert.rejects(restore(aliceA, 'alice-snap', { name: 'alice-there', host: 'local' }), isCode('INVALID_INPUT', /kept on host "h1".*name a fleet host/));
    await assert.rejects(restore(aliceA, 'alice-snap', { name: 'alice-there', host: 'elsewhere' }), isCode('NOT_FOUND', /elsewhere/));

    // Stopped into a snapshot through C, resumed through B: the records follow the agent's copy.
    await snapshot(aliceC, 'alice-stop', false);
    assert.equal((await aliceA.call('getSandbox', { params: { name: 'alice-box' } })).status, 'snapshotted');
    const resumed = await restore(aliceB, 'alice-stop', {});
    assert.equal(resumed.status, 'running');
    assert.equal(await run(aliceA, 'alice-box', 'cat /root/note'), 'kept\n');
    await consistent();

    // Destroying the sandbox leaves its snapshots; deleting one through A deletes it on its host too.
    await aliceA.call('destroySandbox', { params: { name: 'alice-box' } });
    assert.deepEqual((await aliceC.call('listSnapshots', { query: {} })).map((x) => x.name).sort(), ['alice-snap', 'alice-stop']);
    for (const name of ['alice-snap', 'alice-stop']) await aliceA.call('deleteSnapshot', { params: { name } });
    await assert.rejects(aliceB.call('getSnapshot', { params: { name: 'alice-snap' } }), isCode('NOT_FOUND'));
    assert.deepEqual(await aliceC.call('listSnapshots', { query: {} }), []);
    await aliceA.call('destroySandbox', { params: { name: 'alice-branch' } });
    await consistent(); // the agent has none of them left either: no record without its snapshot, no snapshot without its record

    // A host that does not answer (a copy of h1's record on a closed port): its snapshot shows it, and a restore or delete says so in one line.
    await c.query(
      `insert into hosts (name, address, port, username, key_sealed, host_key, fingerprint_json, status, status_reason, last_seen_at, created_at, data_dir, agent_key_sealed)
       select 'down-host', '127.0.0.1', 1, username, key_sealed, host_key, fingerprint_json, 'unreachable', 'closed port', null, created_at, data_dir, agent_key_sealed from hosts where name = 'h1'`,
    );
    const [owner] = await c.query<{ id: string }>(`select id from users where name = 'alice'`);
    await c.query(
      `insert into snapshots (id, name, sandbox_id, sandbox_name, size_bytes, leave_running, created_at, owner_id, status, host, spec_json) values ('0123456789ab', 'down-snap', 'gone', 'gone', 1, 1, now()::text, $1, 'ready', 'down-host', null)`,
      [owner!.id],
    );
    const reasonOf = async () => (await aliceB.call('listSnapshots', { query: {} })).find((x) => x.name === 'down-snap')?.statusReason ?? '';
    assert.match(await reasonOf(), /host "down-host".*does not answer/);
    await assert.rejects(restore(aliceC, 'down-snap', { name: 'from-down' }), isCode('UNAVAILABLE', /down-host.*check/));
    await assert.rejects(aliceA.call('deleteSnapshot', { params: { name: 'down-snap' } }), isCode('UNAVAILABLE', /once the host answers/));
    // Removed since: its files went with it; a restore says so, and a delete forgets the record.
    await c.query(`delete from hosts where name = 'down-host'`);
    assert.match(await reasonOf(), /host "down-host".*was removed/);
    await assert.rejects(restore(aliceC, 'down-snap', { name: 'from-down' }), isCode('INVALID_STATE', /down-host.*DELETE/));
    await aliceA.call('deleteSnapshot', { params: { name: 'down-snap' } });
    assert.deepEqual(await aliceB.call('listSnapshots', { query: {} }), []);
  });

  it('two daemons racing on one sandbox are serialised', async () => {
    // The same name created through two daemons at once: one record, one sandbox.
    const both = await Promise.allSettled([a.api.call('createSandbox', { body: { name: 'raced' } }), b.api.call('createSandbox', { body: { name: 'raced' } })]);
    assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(both));
    const refused = both.find((r) => r.status === 'rejected');
    assert.equal((refused?.reason as BothubError).code, 'NAME_TAKEN');
    // Destroyed through two daemons at once: the second waits for the first, and finds nothing left to do.
    const gone = await Promise.allSettled([a.api.call('destroySandbox', { params: { name: 'raced' } }), cc.api.call('destroySandbox', { params: { name: 'raced' } })]);
    assert.ok(gone.every((r) => r.status === 'fulfilled' || (r.reason as BothubError).code === 'NOT_FOUND'), JSON.stringify(gone));
    assert.ok(gone.some((r) => r.status === 'fulfilled'));
    await assert.rejects(b.api.call('getSandbox', { params: { name: 'raced' } }), (e: BothubError) => e.code === 'NOT_FOUND');
    await consistent();
  });

  it('the sandbox lock holds across daemons, and a dead holder’s lease expires', async () => {
    const db = await openDatabase({ kind: 'postgres', url: c.databaseUrl }, pino({ level: 'silent' }));
    try {
      const locks = ['one', 'two'].map((h) => new SandboxLock(new Leases(db, `test:${h}`), pino({ level: 'silent' }), 1500));
      const inside: string[] = [];
      let overlap = false;
      const work = (who: string) => async () => {
        if (inside.length) overlap = true;
        inside.push(who);
        await db.selectFrom('leases').selectAll().execute(); // a round trip while holding it
        await new Promise((r) => setImmediate(r));
        inside.pop();
      };
      await Promise.all([0, 1, 2, 3].map((i) => locks[i % 2]!.run('x', work(`op${i}`))));
      assert.equal(overlap, false, 'no two holders at once');
      // A holder that dies keeps the lease only until it expires.
      const dead = new Leases(db, 'test:dead');
      assert.equal(await dead.take('sandbox:y', 1500), true);
      const expires = Number((await c.query<{ e: string }>(`select expires_at as e from leases where name = 'sandbox:y'`))[0]!.e);
      const entered = await locks[0]!.run('y', async () => Number((await c.query<{ n: string }>('select (extract(epoch from clock_timestamp()) * 1000)::bigint as n'))[0]!.n));
      assert.ok(entered >= expires, 'taken only once the dead holder’s lease had expired');
      assert.equal(await dead.holderOf('sandbox:y'), undefined, 'released after the work');
    } finally {
      await db.destroy();
    }
  });

  it('kill -9 of the leader mid-operation: another daemon leads within 10 s and nothing is lost', async () => {
    const leader = await c.awaitLeader();
    // An exec under way through the leader when it dies.
    const cut = run(leader, 'shared', 'touch /root/begun; sleep 5; echo finished > /root/done').catch((e: Error) => e);
    const other = c.daemons.find((d) => d !== leader)!;
    await until('the exec to begin', async () => ((await other.api.call('exec', { params: { name: 'shared' }, body: { command: ['test', '-e', '/root/begun'] } })).exitCode === 0 ? true : undefined));
    const killedAt = Date.now();
    await leader.kill9();
    assert.ok((await cut) instanceof Error, 'the client of the killed daemon sees its connection cut');
    const next = await until('another daemon to lead', async () => {
      const l = await c.leader();
      return l && l !== leader ? l : undefined;
    }, 15_000);
    const tookOver = Date.now() - killedAt;
    assert.ok(tookOver < 10_000, `took over after ${tookOver} ms`);
    // The new leader's heartbeats reach the host; the sandbox's state is all there, through any daemon alive.
    const since = await lastSeen(next);
    await until('the new leader’s heartbeat', async () => ((await lastSeen(next)) > since ? true : undefined), HEARTBEAT_WAIT_MS);
    await until('the exec the agent ran to finish', async () => ((await run(next, 'shared', 'cat /root/done 2>/dev/null || true')) === 'finished\n' ? true : undefined));
    assert.equal(await run(next, 'shared', 'cat /root/note'), 'from-a\n');
    // Started again, it joins as a follower.
    await leader.restart();
    assert.equal(await c.leader(), next);
    await consistent();
  });

  it('kill -9 of a daemon mid-create: its sandbox lease expires, another daemon finishes with the sandbox', async () => {
    const leader = await c.awaitLeader();
    const victim = c.daemons.find((d) => d !== leader)!;
    const pending = victim.api.call('createSandbox', { body: { name: 'orphaned' } }).catch((e: Error) => e);
    // Killed while it holds the sandbox's lease (the agent is creating it).
    await until('the create to hold the sandbox lease', async () => {
      const rows = await c.query(`select l.name from leases l join sandboxes s on l.name = 'sandbox:' || s.id where s.name = 'orphaned'`);
      return rows.length ? true : undefined;
    }, 120_000);
    await victim.kill9();
    assert.ok((await pending) instanceof Error);
    // The destroy through the leader waits for the dead daemon's lease to expire, then removes the sandbox on the host too.
    await leader.api.call('destroySandbox', { params: { name: 'orphaned' } });
    await assert.rejects(leader.api.call('getSandbox', { params: { name: 'orphaned' } }), (e: BothubError) => e.code === 'NOT_FOUND');
    assert.equal(await c.leader(), leader, 'a non-leader dying changes no leadership');
    await victim.restart();
    await consistent();
  });
});
