import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost, SshHost } from '../hostexec/index.js';
import { copyTree } from '../runtime/index.js';
import type { HostFingerprint } from '../core/index.js';
import { cli } from './helpers/cli.js';
import type { TestDaemon } from './helpers/daemon.js';
import { snapshot, until } from './helpers/sandbox.js';
import { probe } from './helpers/socket.js';
import type { TestSshHost } from './helpers/ssh-host.js';
import { startFleet, type TestFleet } from './helpers/fleet-hosts.js';

describe('fleet hosts over SSH', () => {
  let fleet: TestFleet;
  let t: TestDaemon;
  let a: TestSshHost;
  let b: TestSshHost;
  before(async () => {
    fleet = await startFleet();
    ({ t, a, b } = fleet);
  });
  const reachable = (name: string) => fleet.reachable(name);
  after(async () => {
    await fleet.cleanup();
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

  it('starts a killed agent again though its pid file names another live process (a reused PID), and leaves that process alone', async () => {
    await reachable('host-a');
    const stranger = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const agent = a.agentPid();
      assert.ok(agent, 'host-a runs an agent');
      process.kill(agent, 'SIGKILL');
      writeFileSync(join(a.dataDir, 'agent.pid'), `${stranger.pid}\n`);
      const back = await until('host-a to run an agent again', async () => a.agentPid(), 30_000);
      assert.notEqual(back, stranger.pid);
      assert.equal(stranger.exitCode ?? stranger.signalCode, null, 'the process the file named still runs');
      await reachable('host-a');
    } finally {
      stranger.kill();
    }
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
