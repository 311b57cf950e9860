import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { LocalHost, SshHost } from '../hostexec/index.js';
import { copyTree } from '../runtime/index.js';
import { BothubError, SYSTEM, type HostFingerprint } from '../core/index.js';
import type { MoveResultT, ProgressEventT } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { put, sh, snapshot, until } from './helpers/sandbox.js';
import { probe } from './helpers/socket.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

describe('fleet hosts over SSH', () => {
  let t: TestDaemon;
  let a: TestSshHost;
  let b: TestSshHost;
  before(async () => {
    t = await startTestDaemon({ heartbeatMs: 300 });
    [a, b] = await Promise.all([startSshHost(), startSshHost()]);
  });
  /** Waits for the heartbeat to see a host that was cut off answer again. */
  const reachable = (name: string) =>
    until(`${name} reachable`, async () => ((await t.api.call('getHost', { params: { name } })).status === 'reachable' ? true : undefined), 20_000);
  after(async () => {
    // The hosts go even when the daemon's own check fails: their sshd and agents would keep the run alive.
    try {
      await t.cleanup();
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });

  it('adds hosts: pins the host key, checks them, records their fingerprints', async () => {
    const add = await cli(t.url, ['host', 'add', 'host-a', '--ssh', `root@${a.address}`, '--key', a.keyFile, '--dir', a.dataDir]);
    assert.equal(add.code, 0, add.stderr);
    assert.ok(add.stdout.includes(a.hostKey()), 'the key it printed is the one sshd has');
    const addB = await cli(t.url, ['host', 'add', 'host-b', '--ssh', `root@${b.address}:22`, '--key', b.keyFile, '--dir', b.dataDir]);
    assert.equal(addB.code, 0, addB.stderr);
    // Each host runs bothub's agent, installed from this build, in its own data directory.
    assert.ok(a.agentPid() && b.agentPid(), 'both agents run');
    assert.notEqual(a.agentPid(), b.agentPid());

    const list = await cli(t.url, ['host', 'list']);
    assert.match(list.stdout, /^NAME\s+STATUS\s+SANDBOXES\s+CPU\s+MEM\s+GPUS/);
    assert.match(list.stdout, /^local\s+reachable\s+\d+\s+\d+\s+\S+\s+-$/m);
    assert.match(list.stdout, /^host-a\s+reachable\s+0\s+\d+\s+\S+GB\s+-$/m);
    const host = await t.api.call('getHost', { params: { name: 'host-a' } });
    const local = await t.api.call('getHost', { params: { name: 'local' } });
    assert.equal(host.hostKey, a.hostKey());
    assert.equal(host.ssh, `root@${a.address}:22`);
    for (const k of ['kernel', 'arch', 'cpuModel', 'criuVersion', 'runcVersion', 'cpus', 'root', 'criuCheck'] as const)
      assert.deepEqual(host.fingerprint[k], local.fingerprint[k], k);
    assert.equal(host.fingerprint.criuCheck, 'ok');
    assert.equal(host.fingerprint.gpu, null, 'no NVIDIA GPU here');
    assert.ok(host.fingerprint.cpuFlags.length > 10);

    // The private key is stored sealed: not in the database in clear.
    const raw = await t.daemon.db.selectFrom('hosts').select('key_sealed').where('name', '=', 'host-a').executeTakeFirstOrThrow();
    assert.equal(raw.key_sealed.includes(Buffer.from('OPENSSH PRIVATE KEY')), false);
  });

  it("the exec socket of a host's sandbox is relayed, and a bad message is refused at the edge (1008), the relay and daemon going on", async () => {
    await t.api.call('createSandbox', { body: { name: 'relayed', host: 'host-a' } });
    try {
      const good = probe(t.api, 'execStream', { name: 'relayed' });
      await good.opened;
      good.sendJson({ command: ['sh', '-c', 'read x; echo "relayed $x"'] });
      good.stdin('hello\n');
      good.sendJson({ type: 'eof' });
      assert.equal(await good.closed, 1000);
      assert.equal(good.output(), 'relayed hello\n');
      const bad = probe(t.api, 'execStream', { name: 'relayed' });
      await bad.opened;
      bad.sendJson({ command: ['cat'] });
      bad.ws.send('not json');
      assert.equal(await bad.closed, 1008);
      assert.equal(bad.error()?.code, 'INVALID_INPUT');
      assert.match(bad.error()?.message ?? '', /^a text message must be JSON/);
      assert.equal((await t.api.call('exec', { params: { name: 'relayed' }, body: { command: ['echo', 'still'] } })).stdout, 'still\n');
    } finally {
      await t.api.call('destroySandbox', { params: { name: 'relayed' } });
    }
  });

  it('refuses bad input with one clear line each', async () => {
    const dup = await cli(t.url, ['host', 'add', 'host-a', '--ssh', `root@${a.address}`, '--key', a.keyFile]);
    assert.equal(dup.code, 4);
    assert.match(dup.stderr, /a host named "host-a" already exists/);
    const badSsh = await cli(t.url, ['host', 'add', 'host-c', '--ssh', 'no-at-sign', '--key', a.keyFile]);
    assert.equal(badSsh.code, 2);
    const wrongKey = await cli(t.url, ['host', 'add', 'host-c', '--ssh', `root@${a.address}`, '--key', b.keyFile + '.pub']);
    assert.equal(wrongKey.code, 2);
    assert.match(wrongKey.stderr, /the private key cannot be read/);
    const local = await cli(t.url, ['host', 'rm', 'local']);
    assert.match(local.stderr, /"local" is this machine/);
  });

  it('the gate: every host with its verdict for a snapshot, and the reasons when a fingerprint does not fit', async () => {
    await t.api.call('createSandbox', { body: { name: 'gated' } });
    const snap = await snapshot(t, 'gated', 'gated-snap', true);
    const all = await t.api.call('snapshotHosts', { params: { name: snap.name } });
    assert.deepEqual(
      all.map((v) => [v.host, v.compatible]),
      [
        ['local', true],
        ['host-a', true],
        ['host-b', true],
      ],
    );
    // host-b, as recorded, loses a CPU flag the snapshot's host has, and runs an old CRIU.
    const row = await t.daemon.db.selectFrom('hosts').select('fingerprint_json').where('name', '=', 'host-b').executeTakeFirstOrThrow();
    const fp = JSON.parse(row.fingerprint_json) as HostFingerprint;
    const flag = fp.cpuFlags.includes('avx2') ? 'avx2' : fp.cpuFlags.find((f) => f === 'sse4_2' || f === 'aes')!;
    const altered = { ...fp, cpuFlags: fp.cpuFlags.filter((f) => f !== flag), criuVersion: '3.17' };
    await t.daemon.db
      .updateTable('hosts')
      .set({ fingerprint_json: JSON.stringify(altered) })
      .where('name', '=', 'host-b')
      .execute();
    const verdict = (await t.api.call('snapshotHosts', { params: { name: snap.name } })).find((v) => v.host === 'host-b')!;
    assert.equal(verdict.compatible, false);
    assert.ok(
      verdict.reasons.some((r) => r.includes(`host CPU lacks flags the snapshot's processes may use: ${flag}`)),
      verdict.reasons.join(' | '),
    );
    assert.ok(
      verdict.reasons.some((r) => r.includes('host CRIU 3.17 cannot restore')),
      verdict.reasons.join(' | '),
    );
    const table = await cli(t.url, ['snapshot', 'hosts', snap.name]);
    assert.match(table.stdout, /^host-b\s+reachable\s+no\s+host CPU lacks flags/m);
    // A check brings the real fingerprint back.
    assert.equal((await cli(t.url, ['host', 'check', 'host-b'])).code, 0);
    const after = await t.api.call('snapshotHosts', { params: { name: snap.name } });
    assert.ok(after.every((v) => v.compatible), JSON.stringify(after));
    await t.api.call('destroySandbox', { params: { name: 'gated' } });
  });

  it('sends a snapshot-sized tree to a host, checksummed, and resumes after the connection drops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bothub-send-'));
    const conns: SshHost[] = [];
    try {
      const src = join(dir, 'snap');
      mkdirSync(join(src, 'criu'), { recursive: true });
      writeFileSync(join(src, 'criu', 'pages-1.img'), randomBytes(48 * 1024 * 1024), { mode: 0o600 });
      writeFileSync(join(src, 'manifest.json'), '{"version":1}\n', { mode: 0o640 });
      const remoteDir = join(dir, 'arrived'); // the test host shares this machine's files
      const conn = () => {
        const c = new SshHost('b', { address: b.address, port: 22, username: 'root', privateKey: readFileSync(b.keyFile, 'utf8') }, undefined);
        conns.push(c);
        return c;
      };
      let cut: Promise<void> | undefined;
      const local = new LocalHost();
      const first = await copyTree(local, src, conn(), remoteDir, {
        onProgress: (p) => {
          if (p.step === 'transfer' && (p.done ?? 0) > 16 * 1024 * 1024) cut ??= b.stopSshd();
        },
      }).catch((e: Error) => e);
      assert.ok(first instanceof Error, 'the first send was cut off');
      await cut;
      await b.startSshd();
      const steps: string[] = [];
      const second = await copyTree(local, src, conn(), remoteDir, { onProgress: (p) => steps.push(p.step) });
      assert.ok(second.resumedBytes > 8 * 1024 * 1024, `resumed from ${second.resumedBytes} bytes`);
      assert.equal(second.bytes + second.resumedBytes, 48 * 1024 * 1024 + 14);
      assert.ok(steps.includes('verify'));
      assert.ok(readFileSync(join(remoteDir, 'criu', 'pages-1.img')).equals(readFileSync(join(src, 'criu', 'pages-1.img'))));
      // CRIU reopens files with the modes it dumped: the resumed file and the one sent whole keep theirs.
      const mode = (rel: string) => (statSync(join(remoteDir, rel)).mode & 0o777).toString(8);
      assert.deepEqual([mode('criu/pages-1.img'), mode('manifest.json')], ['600', '640']);
      // A damaged copy is caught by the checksum, removed, and sent whole the next time.
      writeFileSync(join(remoteDir, 'manifest.json'), '{"version":2}\n');
      await assert.rejects(copyTree(local, src, conn(), remoteDir), /1 file\(s\) arrived damaged \(manifest\.json\)/);
      assert.equal((await copyTree(local, src, conn(), remoteDir)).bytes, 14);
      // Host to host, neither of them this process's: the same copy, streamed through here.
      const onward = join(dir, 'onward');
      assert.equal((await copyTree(conn(), remoteDir, conn(), onward)).files, 2);
      assert.ok(readFileSync(join(onward, 'criu', 'pages-1.img')).equals(readFileSync(join(src, 'criu', 'pages-1.img'))));
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      rmSync(dir, { recursive: true, force: true });
    }
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

  it('a host whose agent hangs is marked unreachable within the heartbeat bound and holds up no other host', async () => {
    await Promise.all([reachable('host-a'), reachable('host-b')]);
    // SSH still answers; the agent's calls hang rather than fail. A round must not wait on them.
    const agent = b.agentPid();
    assert.ok(agent, 'host-b runs an agent');
    process.kill(agent, 'SIGSTOP');
    try {
      const down = await until(
        'host-b unreachable',
        async () => {
          const h = await t.api.call('getHost', { params: { name: 'host-b' } });
          return h.status === 'unreachable' ? h : undefined;
        },
        30_000,
      );
      assert.match(down.statusReason ?? '', /host "host-b" did not answer a heartbeat within \d+ s/);
      const seen = (await t.api.call('getHost', { params: { name: 'host-a' } })).lastSeenAt;
      await until('host-a beats on', async () => ((await t.api.call('getHost', { params: { name: 'host-a' } })).lastSeenAt !== seen ? true : undefined));
    } finally {
      process.kill(agent, 'SIGCONT');
    }
    await reachable('host-b');
  });

  it('refuses a host whose key changed from the pinned one', async () => {
    const pinned = a.hostKey();
    await a.replaceHostKey();
    await t.daemon.ctx.hosts.stop(); // drop the open connection, as a reinstall would
    const check = await cli(t.url, ['host', 'check', 'host-a']);
    assert.equal(check.code, 77, check.stderr);
    assert.ok(check.stderr.includes(`presented host key ${a.hostKey()}, but ${pinned} is pinned`), check.stderr);
    assert.equal((await t.api.call('getHost', { params: { name: 'host-a' } })).status, 'unreachable');
    t.daemon.ctx.hosts.start();
  });

  it('shows a host that stops answering as unreachable, never drops it, and sees it come back', async () => {
    // The transfer test cut host-b off a moment ago: start from a host seen reachable again.
    await reachable('host-b');
    await b.stopSshd();
    const down = await until('host-b unreachable', async () => {
      const h = await t.api.call('getHost', { params: { name: 'host-b' } });
      return h.status === 'unreachable' ? h : undefined;
    });
    assert.match(down.statusReason ?? '', /host "host-b"/, 'the reason names the host');
    const list = await cli(t.url, ['host', 'list']);
    assert.match(list.stdout, /^host-b\s+unreachable/m);
    await b.startSshd();
    let last = '';
    await until(
      'host-b back',
      async () => {
        const h = await t.api.call('getHost', { params: { name: 'host-b' } });
        last = h.statusReason ?? '';
        return h.status === 'reachable' ? true : undefined;
      },
      20_000,
    ).catch((e: Error) => assert.fail(`${e.message}: ${last}`));
    assert.equal((await cli(t.url, ['host', 'rm', 'host-b'])).code, 0);
    assert.doesNotMatch((await cli(t.url, ['host', 'list'])).stdout, /host-b/);
  });
});
