import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { BothubError } from '../core/index.js';
import { databaseTarget, daemonConfig } from '../daemon/config.js';
import { DatabaseBusyError } from '../daemon/db/database-errors.js';
import { startDaemonProcess } from './helpers/daemon-process.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { until } from './helpers/sandbox.js';

/**
 * Issue 22: when the state database cannot serve a request in time (its pool
 * is full, PostgreSQL is down, another writer holds SQLite's lock), the API
 * answers 503 BUSY with Retry-After and a message saying to retry, never 500;
 * and the daemon goes on and recovers by itself.
 */

/** Checks a reply is the database's BUSY: 503, code BUSY, a Retry-After of whole seconds that the message repeats. */
async function assertBusy(res: Response): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 503, text);
  const body = JSON.parse(text) as { code: string; message: string };
  assert.equal(body.code, 'BUSY');
  const after = res.headers.get('retry-after');
  assert.match(after ?? '', /^[1-9]\d*$/, 'a Retry-After in seconds');
  assert.match(body.message, new RegExp(`could not serve this request in time; retry in ${after} s`));
  assert.doesNotMatch(body.message, /BOTHUB_|postgres|sqlite/i, "the operator's hint stays in the log");
}

const putSecret = (t: InjectDaemon, name: string) =>
  t.request(`/api/v1/secrets/${name}`, { method: 'PUT', token: t.adminKey, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'v' }) });

describe('the database busy or away: 503 BUSY with Retry-After, then recovery', () => {
  let server: TestPostgres;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server.stop());

  it('a pool with its only connection in use answers BUSY once BOTHUB_DATABASE_WAIT passes, and serves again when it is free', async () => {
    const url = await server.createDatabase();
    const t = await startInjectDaemon({ databaseUrl: url, databasePool: 1, databaseWaitMs: 2000 });
    try {
      // The pool's one connection, taken through the daemon's own database handle and held until released.
      let release!: () => void;
      let taken!: () => void;
      const isTaken = new Promise<void>((r) => (taken = r));
      const held = t.daemon.db.connection().execute(async (conn) => {
        await conn.selectFrom('users').select('id').execute();
        taken();
        await new Promise<void>((r) => (release = r));
      });
      await isTaken;
      await assertBusy(await t.request('/api/v1/secrets', { token: t.adminKey }));
      await assertBusy(await putSecret(t, 'during'));
      release();
      await held;
      assert.equal((await putSecret(t, 'after')).status, 200);
      assert.deepEqual(
        (await t.api.call('listSecrets')).map((s) => s.name),
        ['after'],
      );
    } finally {
      await t.cleanup();
      await server.dropDatabase(url);
    }
  });

  it('a connection lent out when PostgreSQL stops fails its statement BUSY and does not end the daemon', async () => {
    const url = await server.createDatabase();
    const t = await startInjectDaemon({ databaseUrl: url, databaseWaitMs: 2000 });
    try {
      // Lent out between two statements when the server goes: pg reports the loss as an 'error' event on the connection.
      let taken!: () => void;
      const isTaken = new Promise<void>((r) => (taken = r));
      let halted!: () => void;
      const isHalted = new Promise<void>((r) => (halted = r));
      const lent = t.daemon.db.connection().execute(async (conn) => {
        await conn.selectFrom('users').select('id').execute();
        taken();
        await isHalted;
        return conn.selectFrom('users').select('id').execute();
      });
      await isTaken;
      await server.halt();
      halted();
      const e = await lent.then(
        () => assert.fail('a statement on a lost connection cannot succeed'),
        (err: unknown) => err,
      );
      assert.ok(e instanceof DatabaseBusyError, String(e));
      await assertBusy(await t.request('/api/v1/secrets', { token: t.adminKey }));
      await server.resume();
      await until('the daemon to serve again', async () => ((await putSecret(t, 'after')).status === 200 ? true : undefined), 30_000);
    } finally {
      await server.resume();
      await t.cleanup();
      await server.dropDatabase(url);
    }
  });

  it('PostgreSQL stopped under a running daemon: BUSY, the daemon and its timers go on, and it serves again once PostgreSQL is back', async () => {
    const url = await server.createDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'bothub-busy-'));
    const logFile = join(dir, 'daemon.log');
    // Heartbeat rounds every 100 ms: the timers read the database while it is away, as they would over minutes.
    const d = await startDaemonProcess({ logFile, env: { BOTHUB_DATABASE_URL: url, BOTHUB_DATABASE_WAIT: '2s', BOTHUB_HEARTBEAT: '100ms' } });
    const pid = d.pid();
    const get = () => fetch(`${d.url}/api/v1/secrets`, { headers: { authorization: `Bearer ${d.token}` }, signal: AbortSignal.timeout(30_000) });
    try {
      assert.equal((await get()).status, 200);
      await server.halt();
      await assertBusy(await get());
      await assertBusy(
        await fetch(`${d.url}/api/v1/secrets/during`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ value: 'v' }),
          signal: AbortSignal.timeout(30_000),
        }),
      );
      // The timers met the database away, said so, and the process is still the same one, answering.
      await until('a heartbeat round to fail on the missing database', async () => readFileSync(logFile, 'utf8').includes('a heartbeat round failed') || undefined, 30_000);
      assert.match(readFileSync(logFile, 'utf8'), /answered BUSY: PostgreSQL refused or dropped the connection/);
      await assertBusy(await get());
      assert.equal(d.pid(), pid);
      process.kill(pid, 0);

      await server.resume();
      await until('the daemon to serve again after PostgreSQL is back', async () => ((await get()).status === 200 ? true : undefined), 30_000);
      assert.equal(d.pid(), pid, 'the same daemon process recovered by itself');
      await d.api.call('setSecret', { params: { name: 'after' }, body: { value: 'v' } });
    } finally {
      await server.resume();
      await d.stop();
      await rm(dir, { recursive: true, force: true });
      await server.dropDatabase(url);
    }
  });
});

describe('SQLite: another writer holding the lock past BOTHUB_DATABASE_WAIT', () => {
  it('answers writes BUSY, reads go on (WAL), and writes succeed once the lock is let go', async () => {
    const t = await startInjectDaemon({ databaseWaitMs: 200 });
    const target = databaseTarget(t.config);
    assert.equal(target.kind, 'sqlite');
    const other = new SQLite(target.file);
    try {
      other.exec('BEGIN IMMEDIATE'); // the write lock, held as a backup or a sqlite3 shell could
      await assertBusy(await putSecret(t, 'during'));
      assert.deepEqual(await t.api.call('listSecrets'), []);
      other.exec('ROLLBACK');
      assert.equal((await putSecret(t, 'after')).status, 200);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await t.cleanup();
    }
  });
});

describe('BOTHUB_DATABASE_POOL and BOTHUB_DATABASE_WAIT', () => {
  const refused = (env: Record<string, string>) => {
    try {
      daemonConfig({}, env);
    } catch (e) {
      assert.ok(e instanceof BothubError && e.code === 'INVALID_INPUT');
      return e.message;
    }
    return assert.fail('expected the start to be refused');
  };

  it('are read from the environment and checked with one line naming the variable', () => {
    const config = daemonConfig({}, { BOTHUB_DATABASE_URL: 'postgres://u:p@db:5432/b', BOTHUB_DATABASE_POOL: '25', BOTHUB_DATABASE_WAIT: '500ms' });
    assert.deepEqual(databaseTarget(config), { kind: 'postgres', url: 'postgres://u:p@db:5432/b', pool: 25, waitMs: 500 });
    for (const bad of ['0', '-1', '2.5', 'ten', '1001']) assert.match(refused({ BOTHUB_DATABASE_POOL: bad }), /^invalid BOTHUB_DATABASE_POOL ".*": use a whole number/);
    for (const bad of ['0', '1h', 'soon', '-5s', '11m']) assert.match(refused({ BOTHUB_DATABASE_WAIT: bad }), /^invalid BOTHUB_DATABASE_WAIT ".*": use a duration/);
  });
});
