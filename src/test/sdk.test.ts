import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  AbortedError,
  AuthError,
  Bothub,
  BothubError,
  CommandExitError,
  ERROR_CLASSES,
  ERROR_CODES,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaError,
  TimeoutError,
  UnreachableError,
  WrongStateError,
  type EventT,
  type Sandbox,
} from '@bothub/sdk';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const run = promisify(execFile);
const SDK_DIR = fileURLToPath(new URL('../../sdk/', import.meta.url));

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<BothubError> {
  const e = await p.then(
    () => assert.fail('expected an error'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof BothubError, `a BothubError, not ${String(e)}`);
  return e;
}

/** A server that accepts requests and never answers: the deadline, not the daemon, must end the call. */
async function silentServer(): Promise<{ url: string; server: Server }> {
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('TypeScript SDK against a real daemon', () => {
  let t: TestDaemon;
  let bothub: Bothub;
  let box: Sandbox;
  before(async () => {
    t = await startTestDaemon();
    bothub = new Bothub({ url: t.url, token: t.adminKey });
    box = await bothub.sandboxes.create({ name: 'sdk-box', command: ['sh', '-c', 'echo hello-console; exec sleep infinity'] });
  });
  after(async () => {
    await t.cleanup();
  });

  it('ships copies of the route table, schemas and error registry that match their sources', async () => {
    await run(process.execPath, [join(SDK_DIR, 'scripts/generate.mjs'), '--check']);
  });

  it('creates, lists, gets and destroys sandboxes', async () => {
    assert.equal(box.info.status, 'running');
    assert.ok((await bothub.sandboxes.list()).some((s) => s.name === 'sdk-box'));
    assert.equal((await bothub.sandboxes.get('sdk-box')).info.id, box.info.id);
    const extra = await bothub.sandboxes.create({ name: 'sdk-extra' });
    await bothub.sandboxes.destroy(extra.name);
    assert.ok(!(await bothub.sandboxes.list()).some((s) => s.name === 'sdk-extra'));
    assert.equal((await bothub.health()).status, 'ok');
    assert.deepEqual(await bothub.whoami(), { name: 'admin', admin: true });
  });

  it('maps every error code to its family, with the code, status and hint', async () => {
    for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) assert.ok(new ERROR_CLASSES[code](code, 'x') instanceof BothubError, code);
    const missing = await failure(bothub.sandboxes.get('nope'));
    assert.ok(missing instanceof NotFoundError);
    assert.equal(missing.code, 'NOT_FOUND');
    assert.equal(missing.status, 404);
    assert.equal(missing.hint, 'see `GET /api/v1/sandboxes`');
    assert.ok((await failure(bothub.sandboxes.create({ name: 'sdk-box' }))) instanceof NameTakenError);
    assert.ok((await failure(bothub.sandboxes.create({ name: 'Bad_Name' }))) instanceof InvalidInputError);
    assert.ok((await failure(new Bothub({ url: t.url, token: 'wrong' }).sandboxes.list())) instanceof AuthError);
    const { key } = await bothub.call('createUser', { body: { name: 'sdk-capped', quota: { maxSandboxes: 0 } } });
    assert.ok((await failure(new Bothub({ url: t.url, token: key }).sandboxes.create())) instanceof QuotaError);
    const done = await box.commands.start('true');
    await done.wait();
    const state = await failure(done.kill());
    assert.ok(state instanceof WrongStateError);
    assert.equal(state.code, 'INVALID_STATE');
    const { url, server } = await silentServer();
    server.close();
    await new Promise((r) => server.on('close', r));
    const down = await failure(new Bothub({ url, token: 'k' }).sandboxes.list());
    assert.ok(down instanceof UnreachableError);
    assert.equal(down.code, 'UNAVAILABLE');
  });

  it('gives every call a deadline and honours the caller’s signal, neither replacing the other', async () => {
    const { url, server } = await silentServer();
    try {
      const slow = new Bothub({ url, token: 'k', timeoutMs: 200 });
      const timedOut = await failure(slow.sandboxes.list({ signal: new AbortController().signal }));
      assert.ok(timedOut instanceof TimeoutError);
      assert.equal(timedOut.code, 'TIMED_OUT');
      const ctl = new AbortController();
      const pending = slow.sandboxes.list({ signal: ctl.signal, timeoutMs: 60_000 });
      ctl.abort();
      const aborted = await failure(pending);
      assert.ok(aborted instanceof AbortedError && !(aborted instanceof TimeoutError));
      assert.ok((await failure(slow.health({ signal: AbortSignal.abort() }))) instanceof AbortedError);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('execs with streamed output, stdin, env and workdir; a non-zero exit is a result unless checked', async () => {
    const chunks: string[] = [];
    const errs: string[] = [];
    const r = await box.exec('cat; echo "$GREETING from $(pwd)" >&2; exit 3', {
      stdin: 'piped-in\n',
      env: { GREETING: 'hi' },
      workdir: '/tmp',
      onStdout: (s) => chunks.push(s),
      onStderr: (s) => errs.push(s),
    });
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, 'piped-in\n');
    assert.equal(chunks.join(''), 'piped-in\n');
    assert.equal(errs.join(''), 'hi from /tmp\n');
    assert.match(r.id, /^[0-9a-f]{8}$/);
    const checked = await box.exec(['sh', '-c', 'echo boom >&2; exit 2'], { check: true }).catch((e: unknown) => e);
    assert.ok(checked instanceof CommandExitError);
    assert.equal(checked.exitCode, 2);
    assert.match(checked.message, /boom/);
  });

  it('kills a command at its deadline (timedOut) and on the caller’s abort (AbortedError)', async () => {
    const slow = await box.exec('echo started; sleep 30', { timeoutMs: 1000 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.exitCode, 137);
    assert.equal(slow.stdout, 'started\n');
    const ctl = new AbortController();
    const pending = box.exec('sleep 30', { onStdout: () => undefined, signal: ctl.signal });
    setImmediate(() => ctl.abort());
    assert.ok((await failure(pending)) instanceof AbortedError);
  });

  it('runs background commands: logs by offset, wait, kill, the ledger', async () => {
    const cmd = await box.commands.start(['sh', '-c', 'for i in 1 2 3; do echo line$i; done']);
    let live = '';
    const rec = await cmd.wait({ onOutput: (s) => (live += s) });
    assert.equal(rec.status, 'exited');
    assert.equal(rec.exitCode, 0);
    assert.equal(live, 'line1\nline2\nline3\n');
    const all = await cmd.logs();
    assert.equal(all.text(), live);
    assert.equal(all.nextOffset, live.length);
    const tail = await cmd.logs({ offset: 6, limit: 6 });
    assert.deepEqual([tail.offset, tail.text(), tail.nextOffset], [6, 'line2\n', 12]);
    const sleeper = await box.commands.start('sleep 1000');
    await sleeper.kill('KILL');
    assert.equal((await sleeper.wait()).status, 'killed');
    const ids = (await box.commands.list()).map((c) => c.id);
    assert.ok(ids.includes(cmd.id) && ids.includes(sleeper.id));
    assert.equal((await box.commands.get(cmd.id)).info.exitCode, 0);
  });

  it('reads the console log by offset and follows it', async () => {
    const log = await box.logs();
    assert.match(log.text(), /hello-console/);
    const ctl = new AbortController();
    for await (const chunk of box.followLogs({ offset: 0, signal: ctl.signal })) {
      assert.match(new TextDecoder().decode(chunk), /hello-console/);
      break;
    }
  });

  it('reads, writes and lists files, and uploads and downloads directory trees', async () => {
    const stat1 = await box.files.write('/work/notes/a.txt', 'hello files', { mode: '0600' });
    assert.equal(stat1.size, 11);
    assert.equal(await box.files.readText('/work/notes/a.txt'), 'hello files');
    assert.equal(new TextDecoder().decode(await box.files.read('/work/notes/a.txt', { offset: 6, length: 5 })), 'files');
    assert.equal((await box.files.stat('/work/notes/a.txt')).mode, '0600');
    assert.deepEqual(
      (await box.files.list('/work/notes')).map((e) => e.name),
      ['a.txt'],
    );
    const local = await mkdtemp(join(tmpdir(), 'bothub-sdk-'));
    try {
      await mkdir(join(local, 'up/src/deep'), { recursive: true });
      await writeFile(join(local, 'up/src/deep/main.sh'), '#!/bin/sh\necho uploaded\n');
      await chmod(join(local, 'up/src/deep/main.sh'), 0o755);
      await writeFile(join(local, 'up/README'), 'read me');
      await box.files.upload(join(local, 'up'), '/work/project');
      assert.equal((await box.exec('/work/project/src/deep/main.sh', { check: true })).stdout, 'uploaded\n');
      await box.files.download('/work/project', join(local, 'down'));
      assert.equal(await readFile(join(local, 'down/README'), 'utf8'), 'read me');
      assert.equal((await stat(join(local, 'down/src/deep/main.sh'))).mode & 0o777, 0o755);
      await box.files.download('/work/notes/a.txt', join(local, 'one'));
      assert.equal(await readFile(join(local, 'one/a.txt'), 'utf8'), 'hello files');
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  it('publishes a port, shares it, and revokes the share', async () => {
    const url = await box.publish(8000);
    assert.equal(url.public, false);
    assert.match(url.url, /sdk-box-8000/);
    const link = await box.share(8000, { ttlSeconds: 60 });
    assert.ok((await box.shares()).some((s) => s.id === link.share.id));
    await bothub.shares.revoke(link.share.id);
    assert.ok((await box.shares()).find((s) => s.id === link.share.id)?.revoked);
    assert.deepEqual((await box.unpublish(8000)).info.urls, []);
  });

  it('polls events without skipping any when more happened between two polls than one batch holds', async () => {
    const last = (await bothub.call('listEvents', { query: { sandbox: 'sdk-box', limit: 1 } })).at(-1)?.id ?? 0;
    for (let port = 9000; port < 9055; port++) await box.publish(port);
    for (let port = 9000; port < 9055; port++) await box.unpublish(port);
    const ctl = new AbortController();
    const guard = setTimeout(() => ctl.abort(), 30_000);
    const seen: EventT[] = [];
    for await (const e of box.events({ after: last, signal: ctl.signal })) if (seen.push(e) === 110) ctl.abort();
    clearTimeout(guard);
    assert.equal(seen.length, 110, 'all 110 events, though the first poll asks for 100');
    assert.deepEqual(
      seen.map((e) => e.detail),
      [...Array(55).keys()].map((i) => `port ${9000 + i}`).concat([...Array(55).keys()].map((i) => `port ${9000 + i}`)),
    );
    assert.ok(seen.every((e, i) => i === 0 || e.id > seen[i - 1]!.id));
  });

  it('pauses, freezes and resumes, and reports each change as an event', async () => {
    const ctl = new AbortController();
    const seen: EventT[] = [];
    const last = (await bothub.call('listEvents', { query: { sandbox: 'sdk-box', limit: 1 } })).at(-1)?.id ?? 0;
    const watching = (async () => {
      for await (const e of box.events({ after: last, signal: ctl.signal, intervalMs: 50 })) if (seen.push(e) === 4) ctl.abort();
    })();
    assert.equal((await box.pause()).info.thermal, 'warm');
    assert.equal((await box.resume()).info.thermal, 'hot');
    assert.equal((await box.freeze()).info.thermal, 'cold');
    assert.equal((await box.resume()).info.thermal, 'hot');
    await watching;
    assert.deepEqual(
      seen.map((e) => [e.sandbox, e.type]),
      [
        ['sdk-box', 'warm'],
        ['sdk-box', 'woke'],
        ['sdk-box', 'cold'],
        ['sdk-box', 'woke'],
      ],
    );
  });

  it('snapshots, branches and restores, with progress; lists hosts; a move to an unknown host is NotFound', async () => {
    await box.files.write('/work/state', 'before');
    const steps: string[] = [];
    const snap = await box.snapshot('sdk-snap', { leaveRunning: true, onProgress: (p) => steps.push(p.step) });
    assert.ok(steps.length > 0);
    assert.equal(snap.sandbox, 'sdk-box');
    assert.deepEqual(
      (await bothub.snapshots.list({ sandbox: 'sdk-box' })).map((s) => s.name),
      ['sdk-snap'],
    );
    await box.files.write('/work/state', 'after');
    const branch = await bothub.snapshots.branch('sdk-snap', 'sdk-branch');
    assert.equal(await branch.files.readText('/work/state'), 'before');
    assert.equal(await box.files.readText('/work/state'), 'after');
    await branch.destroy();
    assert.ok((await bothub.snapshots.hosts('sdk-snap')).some((h) => h.host === 'local' && h.compatible));
    await bothub.snapshots.delete('sdk-snap');
    const stopped = await box.snapshot('sdk-snap-2');
    assert.equal((await box.refresh()).info.status, 'snapshotted');
    const resumed = await bothub.snapshots.restore(stopped.name);
    assert.equal(resumed.info.status, 'running');
    assert.equal((await bothub.snapshots.get(stopped.name)).name, 'sdk-snap-2');
    assert.ok((await bothub.hosts.list()).some((h) => h.name === 'local'));
    assert.equal((await bothub.hosts.get('local')).status, 'reachable');
    assert.ok((await failure(box.move('nowhere'))) instanceof NotFoundError);
  });

  it('runs the agent-loop example end to end', async () => {
    const { stdout } = await run(process.execPath, [join(SDK_DIR, 'examples/agent-loop.mjs')], {
      env: { ...process.env, BOTHUB_URL: t.url, BOTHUB_TOKEN: t.adminKey },
      timeout: 300_000,
    });
    assert.match(stdout, /risky step exited [1-9]/);
    assert.match(stdout, /branched agent-\w+-retry/);
    assert.match(stdout, /after the safer step solve.py says 15/);
    assert.match(stdout, /agent: done/);
    assert.ok(!(await bothub.sandboxes.list()).some((s) => s.name.startsWith('agent-')), 'the example cleaned up');
  });
});
