import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SshHost } from '../hostexec/index.js';
import { sendTree } from '../runtime/index.js';
import type { HostFingerprint } from '../core/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { snapshot, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

describe('fleet hosts over SSH', () => {
  let t: TestDaemon;
  let a: TestSshHost;
  let b: TestSshHost;
  before(async () => {
    t = await startTestDaemon({ heartbeatMs: 300 });
    [a, b] = await Promise.all([startSshHost(), startSshHost()]);
  });
  after(async () => {
    await t.cleanup();
    await Promise.all([a.cleanup(), b.cleanup()]);
  });

  it('adds hosts: pins the host key, checks them, records their fingerprints', async () => {
    const add = await cli(t.url, ['host', 'add', 'host-a', '--ssh', `root@${a.address}`, '--key', a.keyFile]);
    assert.equal(add.code, 0, add.stderr);
    assert.ok(add.stdout.includes(a.hostKey()), 'the key it printed is the one sshd has');
    assert.equal((await cli(t.url, ['host', 'add', 'host-b', '--ssh', `root@${b.address}:22`, '--key', b.keyFile])).code, 0);

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
    const raw = await t.daemon.ctx.db.selectFrom('hosts').select('key_sealed').where('name', '=', 'host-a').executeTakeFirstOrThrow();
    assert.equal(raw.key_sealed.includes(Buffer.from('OPENSSH PRIVATE KEY')), false);
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
    const row = await t.daemon.ctx.db.selectFrom('hosts').select('fingerprint_json').where('name', '=', 'host-b').executeTakeFirstOrThrow();
    const fp = JSON.parse(row.fingerprint_json) as HostFingerprint;
    const flag = fp.cpuFlags.includes('avx2') ? 'avx2' : fp.cpuFlags.find((f) => f === 'sse4_2' || f === 'aes')!;
    const altered = { ...fp, cpuFlags: fp.cpuFlags.filter((f) => f !== flag), criuVersion: '3.17' };
    await t.daemon.ctx.db
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
    assert.ok((await t.api.call('snapshotHosts', { params: { name: snap.name } })).every((v) => v.compatible));
    await t.api.call('destroySandbox', { params: { name: 'gated' } });
  });

  it('sends a snapshot-sized tree to a host, checksummed, and resumes after the connection drops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bothub-send-'));
    const conns: SshHost[] = [];
    try {
      const src = join(dir, 'snap');
      mkdirSync(join(src, 'criu'), { recursive: true });
      writeFileSync(join(src, 'criu', 'pages-1.img'), randomBytes(48 * 1024 * 1024));
      writeFileSync(join(src, 'manifest.json'), '{"version":1}\n');
      const remoteDir = join(dir, 'arrived'); // the test host shares this machine's files
      const conn = () => {
        const c = new SshHost('b', { address: b.address, port: 22, username: 'root', privateKey: readFileSync(b.keyFile, 'utf8') }, undefined);
        conns.push(c);
        return c;
      };
      let cut: Promise<void> | undefined;
      const first = await sendTree(conn(), src, remoteDir, {
        onProgress: (p) => {
          if (p.step === 'transfer' && (p.done ?? 0) > 16 * 1024 * 1024) cut ??= b.stopSshd();
        },
      }).catch((e: Error) => e);
      assert.ok(first instanceof Error, 'the first send was cut off');
      await cut;
      await b.startSshd();
      const steps: string[] = [];
      const second = await sendTree(conn(), src, remoteDir, { onProgress: (p) => steps.push(p.step) });
      assert.ok(second.resumedBytes > 8 * 1024 * 1024, `resumed from ${second.resumedBytes} bytes`);
      assert.equal(second.bytes + second.resumedBytes, 48 * 1024 * 1024 + 14);
      assert.ok(steps.includes('verify'));
      assert.ok(readFileSync(join(remoteDir, 'criu', 'pages-1.img')).equals(readFileSync(join(src, 'criu', 'pages-1.img'))));
      // A damaged copy is caught by the checksum, removed, and sent whole the next time.
      writeFileSync(join(remoteDir, 'manifest.json'), '{"version":2}\n');
      await assert.rejects(sendTree(conn(), src, remoteDir), /1 file\(s\) arrived damaged \(manifest\.json\)/);
      assert.equal((await sendTree(conn(), src, remoteDir)).bytes, 14);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
      rmSync(dir, { recursive: true, force: true });
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
    await until('host-b reachable', async () => ((await t.api.call('getHost', { params: { name: 'host-b' } })).status === 'reachable' ? true : undefined), 20_000);
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
