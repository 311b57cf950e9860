import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { BothubError, SYSTEM, type HostFingerprint } from '../core/index.js';
import type { MoveResultT, ProgressEventT } from '../api/index.js';
import { cli } from './helpers/cli.js';
import type { TestDaemon } from './helpers/daemon.js';
import { put, sh, snapshot, until } from './helpers/sandbox.js';
import type { TestSshHost } from './helpers/ssh-host.js';
import { addHosts, startFleet, type TestFleet } from './helpers/fleet-hosts.js';

// Sandboxes placed on, moved between and restored on SSH hosts. Adding and watching hosts: fleet.test.ts.
describe('moves and placement across fleet hosts', () => {
  let fleet: TestFleet;
  let t: TestDaemon;
  let a: TestSshHost;
  let b: TestSshHost;
  before(async () => {
    fleet = await startFleet();
    await addHosts(fleet);
    ({ t, a, b } = fleet);
  });
  const reachable = (name: string) => fleet.reachable(name);
  after(async () => {
    await fleet.cleanup();
  });

  it('places a sandbox on a host: its agent runs it, every call on it is passed through, host list counts it', async () => {
    await t.daemon.ctx.images.ensureDebianWith('test-redis', ['redis-server']);
    const create = await cli(t.url, [
      'create',
      '--name',
      'kv',
      '--image',
      'test-redis',
      '--host',
      'host-a',
      '--',
      'redis-server',
      '--bind',
      '0.0.0.0',
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--enable-debug-command',
      'yes',
    ]);
    assert.equal(create.code, 0, create.stderr);
    assert.match((await cli(t.url, ['list'])).stdout, /^kv\s+running\s+hot\s+host-a\s+test-redis\s+10\.77\./m);
    assert.match((await cli(t.url, ['host', 'list'])).stdout, /^host-a\s+reachable\s+1\s/m);
    // The agent on host-a has it; this machine runs no container for it.
    const there = await t.daemon.ctx.sandboxes.remote.agent('host-a').then((agent) => agent.call('listSandboxes'));
    assert.deepEqual(
      there.map((s) => s.name),
      ['kv'],
    );
    const ping = await until('redis up', async () => {
      const r = await cli(t.url, ['exec', 'kv', '--', 'redis-cli', 'PING']);
      return r.stdout === 'PONG\n' ? r : undefined;
    });
    assert.equal(ping.code, 0);
    // 200k keys (~40 MB in memory), so the move below has something to stream.
    assert.equal((await cli(t.url, ['exec', 'kv', '--', 'redis-cli', 'DEBUG', 'POPULATE', '200000', 'key', '100'])).stdout, 'OK\n');
    await cli(t.url, ['exec', 'kv', '--', 'redis-cli', 'SET', 'greeting', 'hello from host-a']);
    assert.equal((await cli(t.url, ['history', 'kv'])).stdout.split('\n').filter((l) => l.includes('redis-cli')).length >= 3, true, 'the ledger is kept there');
    assert.equal((await cli(t.url, ['host', 'rm', 'host-a'])).code, 5, 'a host with sandboxes stays');
    // While its record says it is on its way elsewhere, nothing reaches it through its agent (which would wake it there).
    const setStatus = (status: 'moving' | 'running', reason: string | null) =>
      t.daemon.db.updateTable('sandboxes').set({ status, status_reason: reason }).where('name', '=', 'kv').execute();
    await setStatus('moving', 'being brought home from host "host-a"');
    try {
      const refused = await cli(t.url, ['exec', 'kv', '--', 'redis-cli', 'PING']);
      assert.equal(refused.code, 5, refused.stderr);
      assert.match(refused.stderr, /sandbox "kv" is moving \(being brought home from host "host-a"\); wait for that to finish/);
      await assert.rejects(t.api.call('listFiles', { params: { name: 'kv' }, query: { path: '/etc' } }), (e: Error & { code?: string }) => e.code === 'INVALID_STATE');
    } finally {
      await setStatus('running', null);
    }
  });

  it('moves a running redis from host A to host B: resumes after a dropped connection, every key readable at its new address', async () => {
    // The transfer test cut host-b off a moment ago: start from a host seen reachable again.
    await reachable('host-b');
    const agentA = await t.daemon.ctx.sandboxes.remote.agent('host-a');
    const digest = async () => (await cli(t.url, ['exec', 'kv', '--', 'redis-cli', 'DEBUG', 'DIGEST'])).stdout.trim();
    const before = await digest();
    const steps: string[] = [];
    let dropped = false;
    const result = await t.daemon.ctx.moves.move('kv', 'host-b', SYSTEM, {
      onProgress: (p: ProgressEventT) => {
        if (steps.at(-1) !== p.step) steps.push(p.step);
        if (p.step === 'transfer' && !dropped && (p.done ?? 0) > 8 * 1024 * 1024) {
          dropped = true;
          b.dropConnections(); // mid-stream: the copy is cut off, then resumed
        }
      },
    });
    assert.ok(dropped, `the transfer was cut (moved ${result.bytes} bytes)`);
    assert.ok(result.resumedBytes > 0, 'the second attempt went on from where the first stopped');
    const order = ['snapshot', 'transfer', 'restore', 'cleanup'];
    assert.deepEqual(
      steps.filter((x, i) => order.includes(x) && steps.indexOf(x) === i),
      order,
    );
    assert.equal(result.from, 'host-a');
    assert.equal(result.sandbox.host, 'host-b');
    assert.ok(result.sandbox.address);
    process.stderr.write(
      `# move: ${(result.bytes / 1e6).toFixed(1)} MB, snapshot ${result.snapshotMs} ms, transfer ${result.transferMs} ms, restore ${result.restoreMs} ms, total ${result.totalMs} ms\n`,
    );

    // Every key: the dataset's digest is the same; and a client on host B reads them at the new address.
    assert.equal(await digest(), before);
    const client = `const s=require('net').connect(6379,process.argv[1]);let b='';s.on('data',d=>{b+=d;if(b.split('\\r\\n').length>3){process.stdout.write(b);s.end()}});s.write('*1\\r\\n$6\\r\\nDBSIZE\\r\\n*2\\r\\n$3\\r\\nGET\\r\\n$8\\r\\ngreeting\\r\\n')`;
    const answer = execFileSync('nsenter', [`--net=/run/netns/${b.netns}`, process.execPath, '-e', client, result.sandbox.address], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(answer, ':200001\r\n$17\r\nhello from host-a\r\n');
    // Gone from host A; its history came along.
    assert.deepEqual(await agentA.call('listSandboxes'), []);
    assert.match((await cli(t.url, ['history', 'kv'])).stdout, /DEBUG POPULATE/);
    assert.match((await cli(t.url, ['host', 'list'])).stdout, /^host-b\s+reachable\s+1\s/m);
  });

  it('killing the target host agent mid-move leaves the sandbox running on its source with its data', async () => {
    const digest = async () => (await cli(t.url, ['exec', 'kv', '--', 'redis-cli', 'DEBUG', 'DIGEST'])).stdout.trim();
    const before = await digest();
    const failed = await t.daemon.ctx.moves
      .move('kv', 'host-a', SYSTEM, {
        onProgress: (p) => {
          if (p.step === 'restore') process.kill(a.agentPid()!, 'SIGKILL');
        },
      })
      .catch((e: Error) => e);
    assert.ok(failed instanceof Error);
    assert.match(failed.message, /^restore failed: .*host "host-a"/);
    const sb = await t.api.call('getSandbox', { params: { name: 'kv' } });
    assert.equal(sb.host, 'host-b');
    assert.equal(sb.status, 'running');
    assert.equal(await digest(), before, 'running on host B with every key');
    // The heartbeat starts host A's agent again.
    await until('agent of host-a back', async () => (a.agentPid() ? true : undefined), 20_000);
    await reachable('host-a');
  });

  it('moves a sandbox from this machine to a host and back by CLI; its files, history and published URL go with it', async () => {
    await t.api.call('createSandbox', { body: { name: 'roamer' } });
    await put(t, 'roamer', '/root/notes.txt', 'written before the move\n');
    await t.api.call('exec', { params: { name: 'roamer' }, body: { command: ['sh', '-c', 'cd /root && nohup python3 -m http.server 8000 >/dev/null 2>&1 &'] } });
    await t.api.call('publish', { params: { name: 'roamer' }, body: { port: 8000, public: true } });
    const out = await cli(t.url, ['move', 'roamer', '--to', 'host-a']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /roamer moved from local to host-a, now at 10\.77\.\S+: snapshot \d+ ms, transfer .* in \d+ ms/);
    assert.equal(await sh(t, 'roamer', 'cat /root/notes.txt'), 'written before the move\n');
    // The published port is served from host A, through SSH.
    const page = await until('preview through host-a', async () => {
      const r = await fetch(`${t.url}/p/roamer/8000/notes.txt`);
      return r.ok ? r.text() : undefined;
    });
    assert.equal(page, 'written before the move\n');
    assert.equal((await cli(t.url, ['move', 'roamer', '--to', 'host-a'])).stderr.trim(), 'bothub: sandbox "roamer" is on host "host-a" already');
    const back = await cli(t.url, ['move', 'roamer', '--to', 'local']);
    assert.equal(back.code, 0, back.stderr);
    const home = await t.api.call('getSandbox', { params: { name: 'roamer' } });
    assert.equal(home.host, 'local');
    assert.equal(await sh(t, 'roamer', 'cat /root/notes.txt'), 'written before the move\n');
    assert.match((await cli(t.url, ['history', 'roamer'])).stdout, /python3 -m http\.serv/);
  });

  it('restores a snapshot on another host, and the gate refuses an incompatible one with its reason', async () => {
    const snap = await snapshot(t, 'roamer', 'roamer-snap', true);
    // A heartbeat missed on a loaded machine marks a host unreachable for a moment, and a restore there is refused meanwhile.
    await reachable('host-b');
    const branch = await cli(t.url, ['snapshot', 'restore', snap.name, '--name', 'roamer-b', '--host', 'host-b']);
    assert.equal(branch.code, 0, branch.stderr);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'roamer-b' } })).host, 'host-b');
    assert.equal(await sh(t, 'roamer-b', 'cat /root/notes.txt'), 'written before the move\n');
    // host-a as recorded now runs another CRIU: restore there and moves there are refused up front, with the reason.
    const row = await t.daemon.db.selectFrom('hosts').select('fingerprint_json').where('name', '=', 'host-a').executeTakeFirstOrThrow();
    await t.daemon.db
      .updateTable('hosts')
      .set({ fingerprint_json: JSON.stringify({ ...(JSON.parse(row.fingerprint_json) as HostFingerprint), criuVersion: '3.17' }) })
      .where('name', '=', 'host-a')
      .execute();
    const refused = await cli(t.url, ['snapshot', 'restore', snap.name, '--name', 'roamer-c', '--host', 'host-a']);
    assert.equal(refused.code, 5);
    assert.match(refused.stderr, /cannot be restored on host "host-a": host CRIU 3\.17 cannot restore/);
    const move = await cli(t.url, ['move', 'roamer-b', '--to', 'host-a']);
    assert.match(move.stderr, /cannot move to host "host-a": host CRIU 3\.17/);
    assert.equal((await cli(t.url, ['host', 'check', 'host-a'])).code, 0);
    for (const name of ['roamer', 'roamer-b', 'kv']) assert.equal((await cli(t.url, ['destroy', name])).code, 0);
    await t.api.call('deleteSnapshot', { params: { name: snap.name } });
    assert.match((await cli(t.url, ['host', 'list'])).stdout, /^host-b\s+reachable\s+0\s/m);
  });

  it('quota: a user at --max-sandboxes moves a sandbox out and home (its one place counted once, its --disk kept); a branch onto a host is refused', async () => {
    await reachable('host-a');
    const { key } = await t.api.call('createUser', { body: { name: 'mover', quota: { maxSandboxes: 1 } } });
    const mover = t.as(key);
    await mover.call('createSandbox', { body: { name: 'nomad', diskMb: 128 } });
    await put(t, 'nomad', '/root/n', 'here\n');
    for (const to of ['host-a', 'local']) {
      const r = await mover.progress<MoveResultT>('moveSandbox', { params: { name: 'nomad' }, body: { to } }, () => undefined);
      assert.equal(r.sandbox.host, to);
      assert.equal(r.sandbox.diskMb, 128, 'its disk limit goes with it');
      assert.ok(Number((await sh(t, 'nomad', 'df -m --output=size / | tail -1')).trim()) <= 128, `the kernel enforces it on ${to}`);
      if (to !== 'host-a') continue;
      // Stopped on the host, its place is free here; starting it there again is the control plane's quota to keep.
      await mover.call('stopSandbox', { params: { name: 'nomad' } });
      await mover.call('createSandbox', { body: { name: 'stay', diskMb: 64 } });
      const start = await mover.call('startSandbox', { params: { name: 'nomad' } }).catch((e: unknown) => e);
      assert.ok(start instanceof BothubError && /user mover may run 1 sandbox\(es\) and has 1 \(stay\)/.test(start.message), String(start));
      await mover.call('destroySandbox', { params: { name: 'stay' } });
      assert.equal((await mover.call('startSandbox', { params: { name: 'nomad' } })).status, 'running');
    }
    assert.equal(await sh(t, 'nomad', 'cat /root/n'), 'here\n');
    await mover.progress('createSnapshot', { params: { name: 'nomad' }, body: { name: 'nomad-snap', leaveRunning: true } }, () => undefined);
    const refused = await mover.progress('restoreSnapshot', { params: { name: 'nomad-snap' }, body: { name: 'nomad-2', host: 'host-a' } }, () => undefined).catch((e: unknown) => e);
    assert.ok(refused instanceof BothubError && refused.code === 'LIMIT_EXCEEDED', String(refused));
    assert.match(refused.message, /user mover may run 1 sandbox\(es\) and has 1 \(nomad\)/);
    assert.deepEqual(
      (await mover.call('listSandboxes')).map((s) => s.name),
      ['nomad'],
    );
    await t.api.call('removeUser', { params: { name: 'mover' }, query: { force: true } });
  });

});
