import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../api/index.js';
import { BothubError } from '../core/index.js';
import { cli } from './helpers/cli.js';

/** A daemon that accepts every request and never answers: what a hung daemon looks like to a client. */
function silentServer(): Promise<{ url: string; server: Server }> {
  const server = createServer(() => undefined);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server })));
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'answered', (e: unknown) => (e instanceof BothubError ? e.code : String(e)));

describe('time limits: the API client', () => {
  let silent: { url: string; server: Server };
  before(async () => (silent = await silentServer()));
  after(() => {
    silent.server.closeAllConnections();
    silent.server.close();
  });

  it('gives up on a daemon that does not answer, with TIMED_OUT and what to do', async () => {
    const api = new ApiClient(silent.url, { timeoutMs: 200 });
    const e = await api.call('listSandboxes').catch((err: unknown) => err);
    assert.ok(e instanceof BothubError);
    assert.equal(e.code, 'TIMED_OUT');
    assert.match(e.message, /did not answer listSandboxes within 200 ms; it may still finish/);
  });

  it("joins the caller's signal with its own limit: neither replaces the other", async () => {
    // The caller's signal, alone, would wait for ever: the client's limit still ends the call.
    const api = new ApiClient(silent.url, { timeoutMs: 200 });
    assert.equal(await codeOf(api.call('listSandboxes', { signal: new AbortController().signal })), 'TIMED_OUT');
    // The caller cancels first: that is a cancel, not a time-out.
    const slow = new ApiClient(silent.url, { timeoutMs: 60_000 });
    assert.equal(await codeOf(slow.call('listSandboxes', { signal: AbortSignal.timeout(100) })), 'ABORTED');
    // A client-wide signal and a call's own limit work together too.
    const cancelled = new AbortController();
    const both = new ApiClient(silent.url, { signal: cancelled.signal });
    const call = codeOf(both.call('listSandboxes', { timeoutMs: 60_000 }));
    cancelled.abort();
    assert.equal(await call, 'ABORTED');
  });

  it("bounds a stream's start, not its length", async () => {
    const api = new ApiClient(silent.url, { timeoutMs: 200 });
    assert.equal(await codeOf(api.fetch('logs', { params: { name: 'x' }, query: { follow: true } })), 'TIMED_OUT');
  });
});

describe('time limits: the daemon refuses a key file it cannot use, in one line naming it', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'bothub-keyfile-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  for (const [what, make] of [
    ['malformed', (file: string) => writeFile(file, 'not a key\n', { mode: 0o600 })],
    ['unreadable', (file: string) => mkdir(file)],
  ] as const) {
    it(`${what === 'malformed' ? 'a' : 'an'} ${what} master.key`, async () => {
      const dataDir = join(dir, what);
      await mkdir(dataDir, { mode: 0o700 });
      const file = join(dataDir, 'master.key');
      await make(file);
      const r = await cli('http://127.0.0.1:1', ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], undefined, { BOTHUB_MASTER_KEY: '' });
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0]!.includes(file), lines[0]);
    });
  }
});
