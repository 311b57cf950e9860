import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { until } from './helpers/sandbox.js';

describe('sandbox lifecycle against real runc', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('create → exec (stdout, stderr, exit code, stdin) → stop/start → destroy', async () => {
    const created = await t.api.call('createSandbox', { body: { name: 'life', env: { GREETING: 'hi' } } });
    assert.equal(created.status, 'running');
    assert.match(created.address ?? '', /^10\./);

    const r = await t.api.call('exec', { params: { name: 'life' }, body: { command: ['sh', '-c', 'echo $GREETING out; echo oops >&2; exit 3'] } });
    assert.deepEqual([r.stdout, r.stderr, r.exitCode], ['hi out\n', 'oops\n', 3]);

    const cat = await t.api.call('exec', { params: { name: 'life' }, body: { command: ['sh', '-c', 'tr a-z A-Z; pwd'], stdin: 'piped in\n', workdir: '/tmp' } });
    assert.equal(cat.stdout, 'PIPED IN\n/tmp\n');

    const missing = await t.api.call('exec', { params: { name: 'life' }, body: { command: ['no-such-program'] } });
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /no-such-program: No such file or directory/);
    // A script without `#!` is not a program (as with `docker exec`); a bad workdir is named.
    await t.api.call('exec', { params: { name: 'life' }, body: { command: ['sh', '-c', 'echo "echo hi" > /root/plain && chmod +x /root/plain'] } });
    const plain = await t.api.call('exec', { params: { name: 'life' }, body: { command: ['/root/plain'] } });
    assert.deepEqual([plain.exitCode, plain.stderr], [126, 'bothub: /root/plain: Exec format error\n']);
    const nowhere = await t.api.call('exec', { params: { name: 'life' }, body: { command: ['true'], workdir: '/no/such/dir' } });
    assert.equal(nowhere.exitCode, 127);
    assert.match(nowhere.stderr, /\/no\/such\/dir: No such file or directory/);

    await t.api.call('exec', { params: { name: 'life' }, body: { command: ['sh', '-c', 'echo kept > /root/file'] } });
    const stopped = await t.api.call('stopSandbox', { params: { name: 'life' } });
    assert.equal(stopped.status, 'stopped');
    await assert.rejects(t.api.call('exec', { params: { name: 'life' }, body: { command: ['true'] } }), /while it is stopped; start it/);
    await t.api.call('startSandbox', { params: { name: 'life' } });
    const kept = await t.api.call('exec', { params: { name: 'life' }, body: { command: ['cat', '/root/file'] } });
    assert.equal(kept.stdout, 'kept\n', 'files written survive stop/start');

    const dir = t.daemon.runtime.paths(created.id).dir;
    await t.api.call('destroySandbox', { params: { name: 'life' } });
    assert.equal(existsSync(dir), false, 'the sandbox directory is gone');
    await assert.rejects(t.api.call('getSandbox', { params: { name: 'life' } }), /no sandbox named "life"/);
  });

  it('streams exec output live through the CLI and exits with the command exit code', async () => {
    await t.api.call('createSandbox', { body: { name: 'clie' } });
    const r = await cli(t.url, ['exec', 'clie', '--', 'sh', '-c', 'cat; echo to-err >&2; exit 5'], 'from stdin\n');
    assert.equal(r.code, 5);
    assert.equal(r.stdout, 'from stdin\n');
    assert.equal(r.stderr, 'to-err\n');
    // Frames past 64 KiB each way (the plain WebSocket's longest length form), byte for byte.
    const big = randomBytes(200_000).toString('base64');
    const echoed = await cli(t.url, ['exec', 'clie', '--', 'sh', '-c', 'cat; head -c 300000 /dev/zero | tr "\\0" z >&2'], big);
    assert.equal(echoed.code, 0);
    assert.equal(echoed.stdout, big);
    assert.equal(echoed.stderr, 'z'.repeat(300_000));
    // With options, the command goes through the parser: the same exec, the same answer.
    assert.deepEqual(await cli(t.url, ['exec', '-w', '/tmp', '-e', 'A=b', 'clie', '--', 'sh', '-c', 'echo $PWD $A']), { code: 0, stdout: '/tmp b\n', stderr: '' });
    const missing = await cli(t.url, ['exec', 'ghost', '--', 'true']);
    assert.deepEqual([missing.code, missing.stderr], [3, 'bothub: no sandbox named "ghost"; see `bothub list`\n']);
    const list = await cli(t.url, ['list']);
    assert.match(list.stdout, /^NAME\s+STATUS\s+THERMAL\s+HOST\s+IMAGE\s+ADDRESS\s+CREATED\s+URL\n/);
    assert.match(list.stdout, /clie\s+running\s+hot\s+local\s+debian\s+10\./);
    assert.equal((await cli(t.url, ['destroy', 'clie'])).code, 0);
  });

  it('reads the console log by byte offset: nothing missed, nothing repeated', async () => {
    await t.api.call('createSandbox', { body: { name: 'logs', command: ['sh', '-c', 'for i in 1 2 3; do echo line$i; done; sleep 0.5; for i in 4 5; do echo line$i; done'] } });
    const first = await until('the first three lines', async () => {
      const res = await t.api.fetch('logs', { params: { name: 'logs' }, query: { offset: 0 } });
      return (await res.clone().text()).includes('line3') ? res : undefined;
    });
    const part1 = await first.text();
    const next = Number(first.headers.get('x-bothub-next-offset'));
    assert.equal(next, Buffer.byteLength(part1));
    // A reconnecting client passes the offset it was given (again and again, until the command has ended).
    const [second, rest] = await until('the rest of the log', async () => {
      const res = await t.api.fetch('logs', { params: { name: 'logs' }, query: { offset: next } });
      const text = await res.text();
      // On a slow machine the first read may already have had it all.
      if (!(part1 + text).includes('main command exited')) throw new Error(`read from ${next}: ${JSON.stringify(text)}`);
      return [res, text] as const;
    });
    assert.equal(Number(second.headers.get('x-bothub-offset')), next);
    const all = part1 + rest;
    assert.match(all, /^line1\nline2\nline3\nline4\nline5\n\[bothub-init\] main command exited with code 0\n$/);

    const viaCli = await cli(t.url, ['logs', 'logs', '--offset', String(next), '--json']);
    const parsed = JSON.parse(viaCli.stdout) as { offset: number; nextOffset: number; data: string };
    assert.equal(parsed.offset, next);
    assert.equal(parsed.nextOffset, Buffer.byteLength(all));
    await t.api.call('destroySandbox', { params: { name: 'logs' } });
  });
});

describe('exec on a terminal', () => {
  it('drives a python REPL: size, input, Ctrl-C, exit code', async () => {
    const t = await startTestDaemon();
    try {
      await t.api.call('createSandbox', { body: { name: 'repl' } });
      const ws = t.api.websocket('execStream', { name: 'repl' });
      let screen = '';
      const exit = new Promise<{ exitCode: number }>((resolve) =>
        ws.on('message', (d: Buffer, binary: boolean) => {
          if (binary) screen += d.subarray(1).toString();
          else if (JSON.parse(d.toString()).type === 'exit') resolve(JSON.parse(d.toString()));
        }),
      );
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ command: ['python3', '-q'], tty: { rows: 30, cols: 100 } }));
      const type = (text: string) => ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(text)]));
      const see = (what: RegExp) => until(`${what} on the screen`, async () => (what.test(screen) ? true : undefined));
      await see(/>>> $/);
      type('6*7\r');
      await see(/^42\r?$/m);
      type('import os; os.get_terminal_size()\r');
      await see(/columns=100, lines=30/);
      // Interrupted while it runs, not at the prompt: the line it prints says it is running.
      type('import time; print("sleep" + "ing", flush=True); time.sleep(60)\r');
      await see(/^sleeping\r?$/m);
      type('\x03');
      await see(/KeyboardInterrupt/);
      type('exit(3)\r');
      assert.equal((await exit).exitCode, 3);
    } finally {
      await t.cleanup();
    }
  });
});
