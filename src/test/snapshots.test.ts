import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SnapshotManifest } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { ourDescendants } from './helpers/processes.js';
import { heldSha, startHolding, ticks } from './helpers/held-memory.js';
import { put, restore, sh, snapshot, until } from './helpers/sandbox.js';

const COUNTER = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'];
/** The counter's value; `echo > file` truncates first, so an empty read is retried. */
const count = (t: TestDaemon, name: string) =>
  until(`the count in ${name}`, async () => {
    const text = (await sh(t, name, 'cat /tmp/count')).trim();
    return text ? Number(text) : undefined;
  });

const ECHO_SERVER = `
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 7000)); s.listen()
def serve(c):
    while (d := c.recv(1024)): c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

function connect(address: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, address, () => resolve(s));
    s.once('error', reject);
  });
}

/** One request, one reply, on a long-lived connection. */
function ask(sock: net.Socket, message: string, complete: (reply: string) => boolean = () => true): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (!complete(buf)) return;
      sock.off('data', onData);
      sock.off('error', onError);
      resolve(buf);
    };
    const onError = (e: Error) => {
      sock.off('data', onData);
      reject(e);
    };
    sock.on('data', onData);
    sock.once('error', onError);
    sock.write(message, () => undefined);
  });
}

describe('snapshots with CRIU', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('a shell counter resumes from its last value; files before the snapshot stay, files after do not', async () => {
    await t.api.call('createSandbox', { body: { name: 'counter', command: COUNTER } });
    await until('the counter', async () => ((await count(t, 'counter')) > 5 ? true : undefined));
    await sh(t, 'counter', 'echo before > /root/before');
    const snap = await snapshot(t, 'counter', 'count-1');
    assert.equal((await t.api.call('getSandbox', { params: { name: 'counter' } })).status, 'snapshotted');
    const listed = await t.api.call('listSnapshots', { query: { sandbox: 'counter' } });
    assert.deepEqual(
      listed.map((s) => s.name),
      ['count-1'],
    );
    assert.ok(snap.sizeBytes > 0);

    await restore(t, 'count-1');
    const resumed = await count(t, 'counter');
    await until('it to keep counting', async () => ((await count(t, 'counter')) > resumed ? true : undefined));
    assert.equal(await sh(t, 'counter', 'cat /root/before'), 'before\n');

    // --leave-running: the sandbox goes on; a file written after the snapshot is gone after a restore.
    const c0 = await count(t, 'counter');
    await snapshot(t, 'counter', 'count-2', true);
    const c1 = await count(t, 'counter');
    assert.ok(c1 >= c0, 'still running after --leave-running');
    await sh(t, 'counter', 'echo after > /root/after');
    await t.api.call('stopSandbox', { params: { name: 'counter' } });
    await restore(t, 'count-2');
    assert.equal((await t.api.call('exec', { params: { name: 'counter' }, body: { command: ['test', '-e', '/root/after'] } })).exitCode, 1);
    const c2 = await count(t, 'counter');
    assert.ok(c2 >= c0 && c2 < c1 + 40, `resumed near the snapshot value (${c1} → ${c2})`);
  });

  it('restoring is refused while the sandbox runs', async () => {
    await assert.rejects(restore(t, 'count-2'), /cannot restore sandbox "counter" while it is running/);
  });

  it('five branches of one snapshot run at once, each counting on independently', async () => {
    const names = ['b1', 'b2', 'b3', 'b4', 'b5'];
    for (const n of names) await restore(t, 'count-2', n);
    const addresses = new Set<string>();
    for (const n of names) addresses.add((await t.api.call('getSandbox', { params: { name: n } })).address!);
    assert.equal(addresses.size, 5, 'each branch has its own address');
    await sh(t, 'b1', 'echo only-b1 > /root/mine');
    const first = await Promise.all(names.map((n) => count(t, n)));
    await until('every branch to count on', async () => {
      const second = await Promise.all(names.map((n) => count(t, n)));
      const stuck = names.filter((_, i) => second[i]! <= first[i]!);
      if (stuck.length) throw new Error(`${stuck.join(', ')} did not count on`);
      return true;
    });
    assert.equal((await t.api.call('exec', { params: { name: 'b2' }, body: { command: ['test', '-e', '/root/mine'] } })).exitCode, 1, 'files are per branch');
    assert.equal((await t.api.call('getSandbox', { params: { name: 'counter' } })).status, 'running', 'the original is untouched');
    for (const n of names) await t.api.call('destroySandbox', { params: { name: n } });
  });

  it('a python process holding 200 MB of random bytes restores with the same sha256 and keeps running', async () => {
    await t.api.call('createSandbox', { body: { name: 'bigmem', memoryMb: 1024 } });
    const sha = await startHolding(t, 'bigmem', 200);
    await snapshot(t, 'bigmem', 'big');
    await restore(t, 'big');
    assert.equal(await heldSha(t, 'bigmem'), sha);
    // It keeps running: its tick counter moves on (polled: a loaded VM may pause it for a while).
    const before = await ticks(t, 'bigmem');
    await until('the ticks to move on', async () => ((await ticks(t, 'bigmem')) > before ? true : undefined), 5000);
    await t.api.call('destroySandbox', { params: { name: 'bigmem' } });
  });

  it('an established TCP connection from the host survives --leave-running and snapshot+restore; a branch keeps listening', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'echo' } });
    await put(t, 'echo', '/root/echo.py', ECHO_SERVER);
    await sh(t, 'echo', 'nohup python3 /root/echo.py >/dev/null 2>&1 &');
    const sock = await until('the echo server', () => connect(sb.address!, 7000));
    try {
      assert.equal(await ask(sock, 'one'), 'one');
      await snapshot(t, 'echo', 'echo-live', true);
      assert.equal(await ask(sock, 'two'), 'two');
      await snapshot(t, 'echo', 'echo-stopped');
      await restore(t, 'echo-stopped');
      assert.equal(await ask(sock, 'three'), 'three');
    } finally {
      sock.destroy();
    }
    const branch = await restore(t, 'echo-stopped', 'echo-branch');
    const other = await until('the branch to listen', () => connect(branch.address!, 7000));
    assert.equal(await ask(other, 'four'), 'four');
    other.destroy();
    // The branch's copy of the host's connection was restored closed, not left half-open.
    const established = await sh(t, 'echo-branch', 'awk \'NR>1 && $4=="01"\' /proc/net/tcp | wc -l');
    assert.equal(established.trim(), '0');
    await t.api.call('destroySandbox', { params: { name: 'echo-branch' } });
    await t.api.call('destroySandbox', { params: { name: 'echo' } });
  });

  it('redis keeps every key in memory across a restore, and a client connection across --leave-running', async () => {
    await t.daemon.ctx.images.ensureDebianWith('test-redis', ['redis-server']);
    const sb = await t.api.call('createSandbox', {
      body: { name: 'redis', image: 'test-redis', command: ['redis-server', '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'] },
    });
    const client = await until('redis', () => connect(sb.address!, 6379));
    const cmd = (line: string) => ask(client, `${line}\r\n`, (b) => /^(\+|-|:)[^\r]*\r\n$|^\$-1\r\n$|^\$\d+\r\n[^\r]*\r\n$/.test(b));
    try {
      for (let i = 0; i < 100; i++) assert.equal(await cmd(`SET key:${i} value-${i}`), '+OK\r\n');
      await snapshot(t, 'redis', 'redis-live', true);
      assert.equal(await cmd('GET key:42'), '$8\r\nvalue-42\r\n', 'the connection opened before the snapshot still works');
      await snapshot(t, 'redis', 'redis-stopped');
    } finally {
      client.destroy();
    }
    await restore(t, 'redis-stopped');
    assert.equal(await sh(t, 'redis', 'redis-cli DBSIZE; redis-cli GET key:99'), '100\nvalue-99\n');
    await t.api.call('destroySandbox', { params: { name: 'redis' } });
  });

  it('refuses to restore a missing snapshot, a damaged one, or one from an incompatible host, and starts nothing', async () => {
    await assert.rejects(restore(t, 'no-such-snap'), /no snapshot named "no-such-snap"/);
    await t.api.call('stopSandbox', { params: { name: 'counter' } });
    const snap = await t.api.call('getSnapshot', { params: { name: 'count-1' } });
    const dir = t.daemon.ctx.snapshots.dirOf(snap.id);
    // Its memory pages are chunks in the store: one of them damaged.
    const files = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as SnapshotManifest).files;
    const pages = Object.keys(files).find((f) => /^criu\/pages-/.test(f))!;
    const chunk = files[pages]!.chunks![0]!;
    const file = join(t.daemon.ctx.snapshots.dir, '.chunks', chunk.slice(0, 2), chunk);
    const bytes = readFileSync(file);
    const mid = bytes.length >> 1;
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(file, bytes);
    await assert.rejects(restore(t, 'count-1'), /snapshot "count-1" is damaged \(criu\/pages-\d+\.img: chunk [0-9a-f]{12}… does not match its checksum\); it cannot be restored/);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'counter' } })).status, 'stopped', 'nothing started');
    bytes[mid] = bytes[mid] ^ 0xff;
    writeFileSync(file, bytes);

    const manifestFile = join(dir, 'manifest.json');
    const original = readFileSync(manifestFile, 'utf8');
    const manifest = JSON.parse(original) as { host: { cpuFlags: string[] } };
    manifest.host.cpuFlags.push('avx512_imaginary');
    writeFileSync(manifestFile, JSON.stringify(manifest));
    await assert.rejects(restore(t, 'count-1'), /cannot be restored on this host: host CPU lacks flags the snapshot's processes may use: avx512_imaginary/);
    writeFileSync(manifestFile, original);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'counter' } })).status, 'stopped');
    await restore(t, 'count-1');
    assert.ok((await count(t, 'counter')) > 0);
  });

  it('CRIU killed mid-dump leaves the sandbox running and no snapshot listed', async () => {
    await t.api.call('createSandbox', { body: { name: 'victim', memoryMb: 1024 } });
    await sh(t, 'victim', "nohup python3 -c \"import os, time; d = os.urandom(400 * 1024 * 1024); open('/tmp/ready','w').close(); time.sleep(10**6)\" >/dev/null 2>&1 &");
    await until('the allocation', async () => ((await sh(t, 'victim', 'test -e /tmp/ready && echo y || true')) ? true : undefined), 30_000);
    let settled = false;
    // The outcome is caught at once: the rejection must not go unhandled while CRIU is being killed.
    const outcome = snapshot(t, 'victim', 'never').then(
      () => undefined,
      (e: Error) => e,
    );
    void outcome.finally(() => (settled = true));
    await until('CRIU to start dumping', async () => (ourDescendants(/sbin\/criu swrk/).length ? true : undefined));
    // Kill every CRIU that shows up until the snapshot gives up, retries included.
    while (!settled) {
      for (const pid of ourDescendants(/sbin\/criu swrk/)) process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(String((await outcome)?.message), /criu dump failed/);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'victim' } })).status, 'running');
    assert.equal(await sh(t, 'victim', 'echo alive'), 'alive\n');
    assert.ok(!(await t.api.call('listSnapshots', { query: {} })).some((s) => s.name === 'never'));
    assert.deepEqual(
      readdirSync(t.daemon.ctx.snapshots.dirOf('')).filter((e) => e.startsWith('.partial')),
      [],
    );
    await t.api.call('destroySandbox', { params: { name: 'victim' } });
  });
});

describe('doctor', () => {
  it('reports kernel, runc, CRIU and what that means for snapshots, over the API and the CLI', async () => {
    const t = await startTestDaemon();
    try {
      const d = await t.api.call('doctor');
      assert.match(d.runc.version, /^1\./);
      assert.match(d.criu.version, /^4\./);
      assert.equal(d.criu.check, true);
      assert.equal(d.snapshots.available, true);
      assert.ok(d.capabilities.includes('sys_admin'));
      const { cli } = await import('./helpers/cli.js');
      const r = await cli(t.url, ['doctor']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^criu\s+4\.\d+\.\d+ at .*; criu check: passes$/m);
      assert.match(r.stdout, /^snapshots\s+snapshot, restore and branch work/m);
    } finally {
      await t.cleanup();
    }
  });
});
