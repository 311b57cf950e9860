import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import type { ApiClient } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

/** A WebSocket client of an interactive command: what it has seen, and its exit. */
function terminal(ws: WebSocket) {
  const state = { screen: '', exit: undefined as number | undefined };
  ws.on('message', (d: Buffer, binary: boolean) => {
    if (binary) state.screen += d.subarray(1).toString();
    else {
      const msg = JSON.parse(d.toString()) as { type: string; exitCode?: number };
      if (msg.type === 'exit') state.exit = msg.exitCode;
    }
  });
  const type = (text: string) => ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(text)]));
  const see = (what: RegExp) => until(`${what} on the screen`, async () => (what.test(state.screen) ? true : undefined));
  return { state, type, see, opened: new Promise((r) => ws.once('open', r)) };
}

async function readLog(api: ApiClient, name: string, id: string, offset: number): Promise<{ data: string; next: number }> {
  const res = await api.fetch('execLogs', { params: { name, id }, query: { offset } });
  return { data: await res.text(), next: Number(res.headers.get('x-bothub-next-offset')) };
}

/** A checksum of every file's path, mode and content under `dir`. */
function treeSum(dir: string): string {
  return execFileSync('sh', ['-c', 'cd "$1" && find . -type f -printf "%p %m\\n" | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum', 'sh', dir], {
    encoding: 'utf8',
  });
}

describe('sessions', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
    await t.api.call('createSandbox', { body: { name: 'work' } });
  });
  after(async () => {
    await t.cleanup();
  });

  it('bothub shell runs a shell; its exit code becomes ours', async () => {
    const r = await cli(t.url, ['shell', 'work'], 'echo "in $(cat /etc/hostname)"; exit 7\n');
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /in work/);
  });

  it('a background command: id at once, ps, output read in two parts by offset across a daemon restart, kill', async () => {
    const start = await cli(t.url, ['exec', '-d', 'work', '--', 'sh', '-c', 'for i in $(seq 1 5); do echo line-$i; done; sleep 1000']);
    assert.equal(start.code, 0, start.stderr);
    const id = start.stdout.trim();
    assert.match(id, /^[0-9a-f]{8}$/);
    const ps = await cli(t.url, ['ps', 'work']);
    assert.match(ps.stdout, /^ID\s+COMMAND\s+STATUS\s+EXIT\s+STARTED/);
    assert.match(ps.stdout, new RegExp(`^${id}\\s+sh -c .*running`, 'm'));

    await until('the first lines', async () => ((await readLog(t.api, 'work', id, 0)).data.includes('line-5') ? true : undefined));
    const first = await readLog(t.api, 'work', id, 0);
    const part1 = first.data.slice(0, 14); // "line-1\nline-2\n"
    const resumeAt = Buffer.byteLength(part1);
    await sh(t, 'work', `echo more-output >> /dev/null`);
    await t.restart();
    const part2 = await readLog(t.api, 'work', id, resumeAt);
    assert.equal(part1 + part2.data, 'line-1\nline-2\nline-3\nline-4\nline-5\n', 'nothing lost, nothing repeated');
    const viaCli = await cli(t.url, ['logs', 'work', '--exec', id, '--offset', String(resumeAt)]);
    assert.equal(viaCli.stdout, part2.data);

    const kill = await cli(t.url, ['kill', 'work', id, '--signal', 'KILL']);
    assert.equal(kill.code, 0, kill.stderr);
    const rec = await until('the kill to land', async () => {
      const r = await t.api.call('getExec', { params: { name: 'work', id } });
      return r.status === 'killed' ? r : undefined;
    });
    assert.equal(rec.signal, 9);
    assert.equal(rec.outputBytes, Buffer.byteLength('line-1\nline-2\nline-3\nline-4\nline-5\n'));
  });

  it('attach from a second client shows the recent screen, then drives the command', async () => {
    const ids: string[] = [];
    const wsA = t.api.websocket('execStream', { name: 'work' });
    const first = terminal(wsA);
    wsA.on('message', (d: Buffer, binary: boolean) => {
      if (!binary && (JSON.parse(d.toString()) as { type: string }).type === 'started') ids.push((JSON.parse(d.toString()) as { id: string }).id);
    });
    await first.opened;
    wsA.send(JSON.stringify({ command: ['python3', '-q'], tty: { rows: 24, cols: 80 } }));
    await first.see(/>>> $/);
    first.type('print("remember-" + "me")\r');
    await first.see(/remember-me/);
    wsA.close();
    await until('the exec id', async () => ids[0]);
    const id = ids[0]!;
    assert.equal((await t.api.call('getExec', { params: { name: 'work', id } })).status, 'running', 'the command outlives its client');

    const second = terminal(t.api.websocket('attachExec', { name: 'work', id }));
    await second.opened;
    await second.see(/remember-me/); // the scrollback, before any new output
    second.type('21*2\r');
    await second.see(/^42\r?$/m);
    second.type('exit(5)\r');
    await until('the exit', async () => second.state.exit);
    assert.equal(second.state.exit, 5);
  });

  it('keeps the ledger: who, what, where, how it ended, output size; after a restart and through snapshot and branch', async () => {
    await t.api.call('exec', { params: { name: 'work' }, body: { command: ['sh', '-c', 'echo ledger-entry; exit 3'], workdir: '/tmp' } });
    await t.restart();
    const history = await cli(t.url, ['--json', 'history', 'work']);
    const rows = JSON.parse(history.stdout) as { command: string[]; workdir: string; actor: string; status: string; exitCode: number; outputBytes: number; endedAt: string }[];
    const entry = rows.find((r) => r.command.join(' ') === 'sh -c echo ledger-entry; exit 3')!;
    assert.ok(entry, 'the command is in the ledger');
    assert.deepEqual([entry.workdir, entry.actor, entry.status, entry.exitCode, entry.outputBytes], ['/tmp', 'admin', 'exited', 3, 'ledger-entry\n'.length]);
    assert.ok(entry.endedAt);
    const table = await cli(t.url, ['history', 'work']);
    assert.match(table.stdout, /^ID\s+STARTED\s+BY\s+COMMAND/);

    await snapshot(t, 'work', 'work-snap', true);
    await t.api.call('exec', { params: { name: 'work' }, body: { command: ['echo', 'after-the-snapshot'] } });
    const branch = await restore(t, 'work-snap', 'work-branch');
    const branchRows = await t.api.call('listExecs', { params: { name: branch.name } });
    const commands = branchRows.map((r) => r.command.join(' '));
    assert.ok(commands.includes('sh -c echo ledger-entry; exit 3'), "the branch starts with its parent's history");
    assert.ok(!commands.includes('echo after-the-snapshot'), 'up to the snapshot only');
    const inherited = branchRows.find((r) => r.command.join(' ') === 'sh -c echo ledger-entry; exit 3')!;
    const out = await t.api.fetch('execLogs', { params: { name: branch.name, id: inherited.id }, query: {} });
    assert.equal(await out.text(), 'ledger-entry\n', "and the output of the parent's commands");
    await t.api.call('destroySandbox', { params: { name: branch.name } });
  });

  it('cp copies a directory tree both ways with modes and contents intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bothub-cp-'));
    try {
      const src = join(dir, 'tree');
      mkdirSync(join(src, 'sub/deeper'), { recursive: true });
      writeFileSync(join(src, 'a.txt'), 'alpha\n');
      writeFileSync(join(src, 'sub/run.sh'), '#!/bin/sh\necho run\n');
      chmodSync(join(src, 'sub/run.sh'), 0o750);
      writeFileSync(join(src, 'sub/deeper/blob.bin'), Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 251)));
      writeFileSync(join(src, 'name with spaces'), 'spaced\n');
      const up = await cli(t.url, ['cp', src, 'work:/data/copied']);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(await sh(t, 'work', '/data/copied/sub/run.sh'), 'run\n', 'modes kept: the script runs');
      const down = await cli(t.url, ['cp', 'work:/data/copied', join(dir, 'back')]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(treeSum(join(dir, 'back')), treeSum(src));
      // One file, into an existing directory.
      const one = await cli(t.url, ['cp', 'work:/data/copied/a.txt', dir]);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(execFileSync('cat', [join(dir, 'a.txt')], { encoding: 'utf8' }), 'alpha\n');
      const missing = await cli(t.url, ['cp', 'work:/no/such/thing', dir]);
      assert.equal(missing.code, 3);
      assert.match(missing.stderr, /no such file or directory in sandbox "work": \/no\/such\/thing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('files API: write, read by offset and length, list, stat, and clear errors', async () => {
    await t.api.fetch('writeFile', { params: { name: 'work' }, query: { path: '/notes/todo.txt', mode: '0600' }, rawBody: '0123456789' });
    const st = await t.api.call('statFile', { params: { name: 'work' }, query: { path: '/notes/todo.txt' } });
    assert.deepEqual([st.type, st.size, st.mode], ['file', 10, '0600']);
    const part = await t.api.fetch('readFile', { params: { name: 'work' }, query: { path: '/notes/todo.txt', offset: 3, length: 4 } });
    assert.equal(await part.text(), '3456');
    const list = await t.api.call('listFiles', { params: { name: 'work' }, query: { path: '/notes' } });
    assert.deepEqual(
      list.map((e) => [e.name, e.type, e.size]),
      [['todo.txt', 'file', 10]],
    );
    const err = async (p: Promise<unknown>) =>
      p.then(
        () => 'no error',
        (e: Error & { code: string }) => `${e.code}: ${e.message}`,
      );
    assert.match(await err(t.api.call('statFile', { params: { name: 'work' }, query: { path: '/nope' } })), /^NOT_FOUND: no such file or directory in sandbox "work": \/nope$/);
    assert.match(await err(t.api.fetch('readFile', { params: { name: 'work' }, query: { path: '/notes' } })), /^INVALID_INPUT: \/notes in sandbox "work" is a directory/);
    assert.match(await err(t.api.call('listFiles', { params: { name: 'work' }, query: { path: '/notes/todo.txt' } })), /^INVALID_INPUT: .* is a file, not a directory/);
  });

  it('writes of one file at once each land whole (the last one stays), leaving no temporary file', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => `${String(i).repeat(64 * 1024)}\n`);
    await Promise.all(bodies.map((rawBody) => t.api.fetch('writeFile', { params: { name: 'work' }, query: { path: '/notes/raced.txt' }, rawBody })));
    const text = await (await t.api.fetch('readFile', { params: { name: 'work' }, query: { path: '/notes/raced.txt' } })).text();
    assert.ok(bodies.includes(text), `one whole write, not a mix (${text.length} bytes)`);
    const names = (await t.api.call('listFiles', { params: { name: 'work' }, query: { path: '/notes' } })).map((e) => e.name);
    assert.deepEqual(names.sort(), ['raced.txt', 'todo.txt']);
  });

  it('refuses paths that leave the sandbox; symlinks pointing out land inside', async () => {
    const err = async (p: Promise<unknown>) =>
      p.then(
        () => 'no error',
        (e: Error & { code: string }) => `${e.code}: ${e.message}`,
      );
    assert.match(await err(t.api.fetch('readFile', { params: { name: 'work' }, query: { path: '/tmp/../../etc/shadow' } })), /^INVALID_INPUT: .* leaves the directory it names/);
    assert.match(await err(t.api.call('statFile', { params: { name: 'work' }, query: { path: 'etc/passwd' } })), /^INVALID_INPUT/);
    // A link to a host-only path: inside the sandbox it points at nothing.
    const hostOnly = join(t.config.dataDir, 'admin.key');
    await sh(t, 'work', `ln -sf ${hostOnly} /tmp/escape && ln -sfn / /tmp/root-link`);
    assert.match(await err(t.api.fetch('readFile', { params: { name: 'work' }, query: { path: '/tmp/escape' } })), /^NOT_FOUND/);
    // Through a link to /, the sandbox's own files, never the host's.
    const hostname = await (await t.api.fetch('readFile', { params: { name: 'work' }, query: { path: '/tmp/root-link/etc/hostname' } })).text();
    assert.equal(hostname, 'work\n');
    const write = await err(t.api.fetch('writeFile', { params: { name: 'work' }, query: { path: '/tmp/escape' }, rawBody: 'x' }));
    assert.equal(write, 'no error', 'writing through the link writes inside the sandbox');
    assert.notEqual(execFileSync('cat', [hostOnly], { encoding: 'utf8' }), 'x');
  });

  it('bothub run: sends the directory (minus .gitignore), starts the app, publishes it; a re-run updates and restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bothub-run-'));
    try {
      writeFileSync(
        join(dir, 'app.py'),
        'import http.server, os\nopen("index.html","w").write(open("message.txt").read())\nhttp.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=8000, bind="0.0.0.0")\n',
      );
      writeFileSync(join(dir, 'message.txt'), 'hello from run v1\n');
      writeFileSync(join(dir, '.gitignore'), 'secret.env\nbuild/\n');
      writeFileSync(join(dir, 'secret.env'), 'TOKEN=do-not-send\n');
      mkdirSync(join(dir, 'build'));
      writeFileSync(join(dir, 'build/junk'), 'junk');
      const runIt = () => cli(t.url, ['--json', 'run', '--name', 'webapp', '-p', '8000', '--', 'python3', 'app.py'], undefined, {}, dir);
      const first = await runIt();
      assert.equal(first.code, 0, first.stderr);
      const out = JSON.parse(first.stdout) as { name: string; exec: string; urls: { port: number; url: string; pathUrl: string }[] };
      assert.equal(out.name, 'webapp');
      assert.match(out.exec, /^[0-9a-f]{8}$/);
      const url = out.urls.find((u) => u.port === 8000)!.pathUrl;
      const get = async () => {
        const res = await fetch(url, { headers: { authorization: `Bearer ${t.adminKey}` } }).catch(() => undefined);
        return res?.ok ? res.text() : undefined;
      };
      assert.equal(await until('the app', get, 15_000), 'hello from run v1\n');
      assert.equal(await sh(t, 'webapp', 'ls -A /workspace | sort | tr "\\n" " "'), '.gitignore app.py index.html message.txt ');

      writeFileSync(join(dir, 'message.txt'), 'hello from run v2\n');
      const second = await runIt();
      assert.equal(second.code, 0, second.stderr);
      assert.equal(await until('the new version', async () => ((await get()) === 'hello from run v2\n' ? 'v2' : undefined), 15_000), 'v2');
      const ps = await t.api.call('listExecs', { params: { name: 'webapp' } });
      assert.deepEqual(
        ps.filter((r) => r.detached).map((r) => r.status),
        ['killed', 'running'],
        'the first command gave way to the second',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
