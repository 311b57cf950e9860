import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { HostFileError, type Host } from '../hostexec/index.js';
import { onEachHost } from './helpers/each-host.js';

/** The same checks for every Host: the runtime must not be able to tell this machine from a fleet host. */
function fileOperations(label: string, open: () => Promise<Host>, close: () => Promise<void>) {
  describe(`${label}: file operations`, () => {
    let host: Host;
    let dir: string;
    before(async () => {
      host = await open();
      dir = mkdtempSync(join(tmpdir(), 'bothub-hostfiles-')); // the SSH test host shares this machine's files
    });
    after(async () => {
      rmSync(dir, { recursive: true, force: true });
      await close();
    });

    it('writes and reads files, with the mode asked for and a durable write', async () => {
      const f = join(dir, 'a.txt');
      await host.writeFile(f, 'hello\n', { mode: 0o600, fsync: true });
      assert.equal(await host.readTextFile(f), 'hello\n');
      assert.deepEqual(await host.readFile(f), Buffer.from('hello\n'));
      const st = await host.stat(f);
      assert.equal(st.kind, 'file');
      assert.equal(st.size, 6);
      assert.equal(st.mode, 0o600);
      await host.writeFile(f, Buffer.from('replaced'));
      assert.equal(readFileSync(f, 'utf8'), 'replaced', 'a second write replaces the contents');
    });

    it('makes, lists, renames and removes directories and files', async () => {
      const deep = join(dir, 'x', 'y', 'z');
      await host.mkdir(deep, { recursive: true, mode: 0o700 });
      await host.mkdir(deep, { recursive: true }); // exists: fine
      await assert.rejects(host.mkdir(deep), (e: unknown) => e instanceof HostFileError && e.code === 'EEXIST');
      assert.equal((await host.stat(deep)).mode, 0o700);
      await host.writeFile(join(dir, 'x', 'f'), '1');
      await host.writeFile(join(dir, 'x', 'g'), '2');
      const entries = (await host.readdir(join(dir, 'x'))).sort((p, q) => p.name.localeCompare(q.name));
      assert.deepEqual(entries, [
        { name: 'f', kind: 'file' },
        { name: 'g', kind: 'file' },
        { name: 'y', kind: 'directory' },
      ]);
      await host.rename(join(dir, 'x', 'f'), join(dir, 'x', 'g')); // replaces, as rename(2)
      assert.equal(await host.readTextFile(join(dir, 'x', 'g')), '1');
      assert.equal(await host.exists(join(dir, 'x', 'f')), false);
      await host.rmdir(deep);
      assert.equal(await host.exists(deep), false);
      await host.rm(join(dir, 'x', 'g'));
      await host.rm(join(dir, 'x'), { recursive: true, force: true });
      assert.equal(await host.exists(join(dir, 'x')), false);
      await host.rm(join(dir, 'x'), { recursive: true, force: true }); // gone already: fine with force
      await host.rm(join(dir, 'nothing'), { force: true });
    });

    it('tells symlinks, device nodes and sparse files apart', async () => {
      const target = join(dir, 'target');
      await host.writeFile(target, 'x');
      const link = join(dir, 'link');
      await host.run('ln', ['-s', target, link]);
      assert.equal((await host.lstat(link)).kind, 'symlink');
      assert.equal((await host.stat(link)).kind, 'file');
      assert.equal(await host.readlink(link), target);
      assert.equal(await host.realpath(link), target);
      assert.deepEqual((await host.stat('/dev/null')).device, { major: 1, minor: 3 });
      const sparse = join(dir, 'sparse');
      await host.writeFile(sparse, '', { mode: 0o600 });
      await host.truncate(sparse, 64 * 1024 * 1024);
      assert.equal((await host.stat(sparse)).size, 64 * 1024 * 1024);
    });

    it('reads /proc and /sys files, whose size the kernel gives as 0', async () => {
      assert.equal(await host.readTextFile('/proc/version'), readFileSync('/proc/version', 'utf8'));
      assert.match(await host.readTextFile('/proc/self/mounts'), / \/proc proc /);
      assert.equal(await host.exists('/sys/fs/cgroup'), true);
    });

    it('streams big files both ways', async () => {
      const data = randomBytes(5 * 1024 * 1024 + 7);
      const f = join(dir, 'big');
      await pipeline(Readable.from([data.subarray(0, 1_000_000), data.subarray(1_000_000)]), await host.createWriteStream(f, { mode: 0o600 }));
      assert.equal((await host.stat(f)).size, data.length);
      const hash = createHash('sha256');
      await pipeline(await host.createReadStream(f), hash);
      assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    });

    it('reads and writes at positions, streams a range, copies, and sets times', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 11); // past one SFTP packet: the calls split and join it
      const f = join(dir, 'positions');
      const w = await host.open(f, 'w', 0o600);
      try {
        await w.chmod(0o640);
        // Second half first: a write at a position leaves what is before it to a later one.
        await w.write(data, 1_500_000, data.length - 1_500_000, 1_500_000);
        await w.write(data, 0, 1_500_000, 0);
        await w.sync();
        assert.equal((await w.stat()).size, data.length);
      } finally {
        await w.close();
      }
      assert.equal((await host.stat(f)).mode, 0o640);
      const r = await host.open(f, 'r');
      try {
        const buf = Buffer.alloc(2_000_000);
        assert.equal(await r.read(buf, 0, buf.length, 1_000_000), buf.length);
        assert.deepEqual(buf, data.subarray(1_000_000, 3_000_000));
        assert.equal(await r.read(buf, 0, buf.length, data.length - 5), 5, 'short at the end');
        assert.equal(await r.read(buf, 0, buf.length, data.length), 0, '0 past the end');
      } finally {
        await r.close();
      }
      const middle: Buffer[] = [];
      for await (const chunk of await host.createReadStream(f, { start: 100, end: 2_100_099 })) middle.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(middle), data.subarray(100, 2_100_100));
      const copy = join(dir, 'copy');
      await host.copyFile(f, copy);
      assert.deepEqual(readFileSync(copy), data);
      assert.equal((await host.stat(copy)).mode, 0o640, 'the copy has the source mode');
      const then = new Date('2020-01-02T03:04:05Z');
      await host.utimes(copy, then, then);
      assert.equal((await host.stat(copy)).mtimeMs, then.getTime());
      await assert.rejects(host.open(join(dir, 'missing'), 'r'), (e: unknown) => e instanceof HostFileError && e.code === 'ENOENT');
    });

    it('says which file is missing, and where', async () => {
      const missing = join(dir, 'missing', 'file');
      const says = (op: string) => (e: unknown) => {
        assert.ok(e instanceof HostFileError, String(e));
        assert.equal(e.code, 'ENOENT');
        assert.equal(e.message, `cannot ${op} ${missing} on host "${host.name}": it does not exist`);
        return true;
      };
      await assert.rejects(host.readFile(missing), says('read'));
      await assert.rejects(host.createReadStream(missing), says('read'));
      await assert.rejects(host.writeFile(missing, 'x'), says('write'));
      await assert.rejects(host.stat(missing), says('stat'));
      await assert.rejects(host.readdir(missing), says('list'));
      await assert.rejects(host.rm(missing), says('remove'));
      await assert.rejects(host.rename(missing, join(dir, 'b')), says('rename'));
      assert.equal(await host.exists(missing), false);
    });

    it('says when it may not', async () => {
      // A read-only sysfs attribute refuses writing even to root (kernfs answers EACCES).
      await assert.rejects(host.writeFile('/sys/kernel/uevent_seqnum', '1'), (e: unknown) => {
        assert.ok(e instanceof HostFileError, String(e));
        assert.equal(e.code, 'EACCES');
        assert.equal(e.message, `cannot write /sys/kernel/uevent_seqnum on host "${host.name}": permission denied; bothub must run as root there`);
        return true;
      });
    });

    it('signals processes by pid, and says when one is gone', async () => {
      // The SSH test host shares this machine's PID namespace: a child of ours is a process there too.
      const child = spawn('sleep', ['60'], { stdio: 'ignore' });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      assert.equal(await host.kill(child.pid!, 'SIGTERM'), true);
      assert.equal(await exited, 'SIGTERM');
      assert.equal(await host.kill(child.pid!, 'SIGKILL'), false, 'reaped: no such process');
      await assert.rejects(host.kill(0, 'SIGKILL'), /not a process id/);
      await assert.rejects(host.kill(-1, 'SIGKILL'), /not a process id/);
    });

    it('runs sixteen commands at once (sshd allows ten sessions on a connection); one cancelled while it waits frees its turn', async () => {
      const batch = () => Promise.all(Array.from({ length: 16 }, (_, i) => host.run('sh', ['-c', `sleep 0.3; echo ${i}`])));
      const expected = Array.from({ length: 16 }, (_, i) => `${i}\n`);
      const first = batch();
      const cancel = new AbortController();
      const cancelled = host.run('true', [], { signal: cancel.signal }).then(
        () => 'ran',
        (e: Error) => e.message,
      );
      cancel.abort();
      assert.match(await cancelled, /^true .*was cancelled/);
      assert.deepEqual((await first).map((r) => r.stdout), expected);
      assert.deepEqual((await batch()).map((r) => r.stdout), expected, 'every turn came back');
    });

    it('opens a Unix socket on the host', async () => {
      const path = join(dir, 'echo.sock');
      const server = createServer((s) => s.pipe(s));
      await new Promise<void>((resolve) => server.listen(path, resolve));
      try {
        const s = await host.openSocket(path);
        const echoed = new Promise<string>((resolve) => s.once('data', (b: Buffer) => resolve(b.toString())));
        s.write('ping');
        assert.equal(await echoed, 'ping');
        s.destroy();
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });
}

onEachHost(fileOperations);
