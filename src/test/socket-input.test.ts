import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { until } from './helpers/sandbox.js';
import { probe } from './helpers/socket.js';

// Bad input on the exec socket and the archive route, against real sandboxes (a terminal, tar).
// The same bad input over plain HTTP, which the schemas refuse, is in api-errors.test.ts.
describe('bad input that once took the daemon down, or answered 500', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
    await t.api.call('createSandbox', { body: { name: 'box' } });
  });
  after(async () => {
    await t.cleanup();
  });

  it('a text message that is not JSON on the exec socket: an error and close 1008 for that socket; the daemon, the command and other sockets go on', async () => {
    // Another client's command, mid-run, while the bad message arrives.
    const other = probe(t.api, 'execStream', { name: 'box' });
    await other.opened;
    other.sendJson({ command: ['cat'] });
    await until('the other command to start', async () => other.messages.find((m) => m.type === 'started'));

    const bad = probe(t.api, 'execStream', { name: 'box' });
    await bad.opened;
    bad.sendJson({ command: ['sh', '-c', 'read line; echo "got $line"'], tty: { rows: 24, cols: 80 } });
    const started = await until('the terminal command to start', async () => bad.messages.find((m) => m.type === 'started'));
    bad.ws.send('this is not json');
    assert.equal(await bad.closed, 1008);
    assert.equal(bad.error()?.code, 'INVALID_INPUT');
    assert.match(bad.error()?.message ?? '', /^a text message must be JSON \(.*\); send a JSON object$/);

    // The daemon answers; the terminal command runs on and takes input from the next client.
    assert.equal((await t.api.call('health')).status, 'ok');
    const id = started.type === 'started' ? started.id : '';
    assert.equal((await t.api.call('getExec', { params: { name: 'box', id } })).status, 'running');
    const again = probe(t.api, 'attachExec', { name: 'box', id });
    await again.opened;
    again.stdin('hello\r');
    await again.see(/got hello/);
    assert.equal(await again.closed, 1000);
    assert.deepEqual(again.messages.at(-1), { type: 'exit', exitCode: 0, signal: null, oomKilled: false });

    other.stdin('still here\n');
    await other.see(/still here/);
    other.sendJson({ type: 'eof' });
    assert.equal(await other.closed, 1000);
    assert.deepEqual(other.messages.at(-1), { type: 'exit', exitCode: 0, signal: null, oomKilled: false });
  });

  it('a first message that is not JSON, or not an ExecStart, or a frame on no channel: error and 1008', async () => {
    const cases: [string | Buffer, RegExp][] = [
      ['{"command": ', /^a text message must be JSON/],
      [JSON.stringify({ command: 'ls' }), /^invalid start: start\/command must be array/],
      [JSON.stringify({ type: 'eof' }), /^invalid start: start must have required property 'command'/],
      [Buffer.from([0, 65]), /^the first message must be a JSON text message/],
    ];
    for (const [first, message] of cases) {
      const p = probe(t.api, 'execStream', { name: 'box' });
      await p.opened;
      p.ws.send(first);
      assert.equal(await p.closed, 1008, String(first));
      assert.equal(p.error()?.code, 'INVALID_INPUT', String(first));
      assert.match(p.error()?.message ?? '', message);
    }
    const p = probe(t.api, 'execStream', { name: 'box' });
    await p.opened;
    p.sendJson({ command: ['cat'] });
    p.ws.send(Buffer.from([7, 1, 2]));
    assert.equal(await p.closed, 1008);
    assert.match(p.error()?.message ?? '', /^a binary frame must start with a channel tag byte: 0, not 7$/);
    assert.equal((await t.api.call('health')).status, 'ok');
  });

  it('an archive unpacked onto a file, and a NUL byte on the exec socket: 400 and 1008 with the field named', async () => {
    const nul = 'a\u0000b';
    // Found by the fuzzer: an archive unpacked onto a file was a 500.
    const onFile = await fetch(`${t.url}/api/v1/sandboxes/box/archive?path=/etc/hostname`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/x-tar' },
      body: 'not a tar',
    });
    assert.equal(onFile.status, 400);
    assert.match(((await onFile.json()) as { message: string }).message, /\/etc\/hostname in sandbox "box" is not a directory; unpack into a directory/);
    // On the exec socket too: the same schema, the same words.
    const p = probe(t.api, 'execStream', { name: 'box' });
    await p.opened;
    p.sendJson({ command: ['echo', nul] });
    assert.equal(await p.closed, 1008);
    assert.match(p.error()?.message ?? '', /start\/command\/1 must not contain a NUL byte/);
  });
});
