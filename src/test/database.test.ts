import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { BothubError, SYSTEM, type Actor } from '../core/index.js';
import { daemonConfig } from '../daemon/config.js';
import { openDatabase, type DatabaseTarget, type Db } from '../daemon/db/database.js';
import { isPostgres } from '../daemon/db/dialect.js';
import { toErrorBody } from '../daemon/http/errors.js';
import { Sealer } from '../daemon/security/master-key.js';
import { EventLog } from '../daemon/services/event-log.js';
import { enforceQuota } from '../daemon/services/quota.js';
import { newSandboxRow } from '../daemon/services/sandbox-service.js';
import { SecretService } from '../daemon/services/secret-service.js';
import { UserService } from '../daemon/services/user-service.js';
import { WebSessions } from '../daemon/services/web-sessions.js';
import pino from 'pino';
import { cli } from './helpers/cli.js';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { until } from './helpers/sandbox.js';

const log = pino({ level: 'silent' });

/** What throws, caught: the test then looks at it. */
const caught = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected it to throw'),
    (e: unknown) => e as Error,
  );

const sandbox = (ownerId: string, name: string) =>
  newSandboxRow({
    name,
    image: 'debian',
    cpus: 0.5,
    memoryMb: 64,
    pidsLimit: 64,
    network: 'none',
    command: [],
    env: {},
    ownerId,
    secrets: [],
    idleWarmMs: null,
    idleColdMs: null,
    keepHot: false,
    gpus: 0,
    diskMb: 64,
  });

/** What the daemon does for every new sandbox, without the runtime: the quota check and the insert, in one transaction. */
const insertChecked = (db: Db, row: ReturnType<typeof sandbox>, whileOpen: () => Promise<void> = async () => undefined) =>
  db.transaction().execute(async (tx) => {
    await enforceQuota(tx, row);
    await tx.insertInto('sandboxes').values(row).execute();
    await whileOpen();
  });

let server: TestPostgres;
const dir = mkdtempSync(join(tmpdir(), 'bothub-db-test-'));
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const engines: [string, () => Promise<DatabaseTarget>][] = [
  ['SQLite', async () => ({ kind: 'sqlite', file: join(dir, `${Math.random().toString(36).slice(2)}.db`) })],
  ['PostgreSQL', async () => ({ kind: 'postgres', url: await server.createDatabase() })],
];

for (const [engine, target] of engines) {
  describe(`the state database on ${engine}`, () => {
    let db: Db;
    let where: DatabaseTarget;
    let users: UserService;
    let alice: Actor;
    before(async () => {
      where = await target();
      db = await openDatabase(where, log);
      users = new UserService(db, log);
      await users.create({ name: 'alice', quota: { maxSandboxes: 1, maxSnapshotBytes: 5_000_000_000 } });
      const row = await users.row('alice');
      alice = { id: row.id, name: 'alice', admin: false };
    });
    after(async () => {
      await db?.destroy();
      if (where?.kind === 'postgres') await server.dropDatabase(where.url);
    });

    it('migrates once; a second start finds it migrated', async () => {
      assert.equal(isPostgres(db), engine === 'PostgreSQL');
      const again = await openDatabase(where, log);
      assert.equal((await again.selectFrom('users').select('name').execute()).length, 1);
      await again.destroy();
    });

    it('64-bit integers, counts, reals and bytes come back as they went in, as numbers and Buffers', async () => {
      const row = await users.row('alice');
      assert.equal(row.max_snapshot_bytes, 5_000_000_000);
      await db
        .insertInto('snapshots')
        .values({
          id: 's1',
          name: 'big',
          sandbox_id: 'x',
          sandbox_name: 'x',
          size_bytes: 3_000_000_000,
          leave_running: 0,
          created_at: new Date().toISOString(),
          owner_id: alice.id,
          status: 'ready',
          host: 'local',
          spec_json: null,
        })
        .execute();
      assert.equal((await db.selectFrom('snapshots').select('size_bytes').executeTakeFirstOrThrow()).size_bytes, 3_000_000_000);
      const { n } = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(n, 1);
      const sb = sandbox(alice.id, 'reals');
      sb.cpus = 1 / 3;
      await db.insertInto('sandboxes').values(sb).execute();
      assert.equal((await db.selectFrom('sandboxes').select('cpus').where('id', '=', sb.id).executeTakeFirstOrThrow()).cpus, 1 / 3);
      await db.deleteFrom('sandboxes').where('id', '=', sb.id).execute();
      const secrets = new SecretService(db, await Sealer.load(join(dir, 'master.key'), '11'.repeat(32)));
      await secrets.set(alice, 'TOKEN', 'first');
      await secrets.set(alice, 'TOKEN', 'second \u0000 with a NUL'); // upsert
      assert.deepEqual(await secrets.env(alice.id, ['TOKEN']), { TOKEN: 'second \u0000 with a NUL' });
      assert.ok(Buffer.isBuffer((await db.selectFrom('secrets').select('ciphertext').executeTakeFirstOrThrow()).ciphertext));
    });

    it('orders text byte by byte, as SQLite does', async () => {
      const secrets = new SecretService(db, await Sealer.load(join(dir, 'master.key'), '11'.repeat(32)));
      for (const name of ['b_x', 'B', 'a', 'A_1', 'ab']) await secrets.set(alice, name, 'v');
      assert.deepEqual(
        (await secrets.list(alice)).map((s) => s.name),
        ['A_1', 'B', 'TOKEN', 'a', 'ab', 'b_x'],
      );
    });

    it('a taken user name is NAME_TAKEN; removing the user ends their web sessions (foreign key)', async () => {
      const e = await caught(users.create({ name: 'alice' }));
      assert.ok(e instanceof BothubError && e.code === 'NAME_TAKEN', String(e));
      const { user } = await users.create({ name: 'bob' });
      const sessions = new WebSessions(db);
      const { id } = await sessions.open({ id: (await users.row(user.name)).id, name: 'bob', admin: false });
      assert.equal((await sessions.find(id))?.actor.name, 'bob');
      await users.remove('bob');
      assert.equal(await sessions.find(id), undefined);
      assert.equal((await db.selectFrom('web_sessions').selectAll().execute()).length, 0);
    });

    it('text with a NUL byte: SQLite keeps it; PostgreSQL refuses it, and the API says 400, not 500', async () => {
      const write = db
        .insertInto('events')
        .values({ sandbox_id: 'x', sandbox_name: 'x', owner_id: null, type: 'test', detail: 'a\u0000b', at: new Date().toISOString() })
        .execute();
      if (!isPostgres(db)) return void (await write);
      const body = toErrorBody(await caught(write), 'req-1');
      assert.equal(body.statusCode, 400);
      assert.match(body.message, /NUL byte/);
    });

    it('event ids rise in commit order, even for events recorded at once', async () => {
      const events = new EventLog(db);
      const seen: number[] = [];
      const stop = events.follow(
        { actor: SYSTEM },
        await events.lastId(),
        (e) => seen.push(e.id),
        (e) => assert.fail(String(e)),
      );
      await Promise.all(Array.from({ length: 20 }, (_, i) => events.record({ id: `e${i}`, name: `e${i}`, owner_id: null }, 'created')));
      await until('every event to reach the follower', async () => (seen.length === 20 ? true : undefined));
      stop();
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
      );
      assert.equal(await events.lastId(), seen.at(-1));
    });

    it('two creates at the limit, interleaved: the second waits for the first to commit, then is refused', async () => {
      let inserted!: () => void;
      const firstInserted = new Promise<void>((r) => (inserted = r));
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const first = insertChecked(db, sandbox(alice.id, 'one'), async () => {
        inserted();
        await gate;
      });
      await firstInserted;
      // The first transaction has checked and written but not committed: the second must not count without it.
      const second = insertChecked(db, sandbox(alice.id, 'two')).then(
        () => 'created',
        (e: BothubError) => e.code,
      );
      try {
        if (isPostgres(db)) {
          // Seen waiting on the placement lock, not past it.
          await until('the second create to wait for the placement lock', async () => {
            const { rows } = await sql<{ n: number }>`select count(*) as n from pg_locks where locktype = 'advisory' and not granted`.execute(db);
            return rows[0]!.n === 1 ? true : undefined;
          });
        }
      } finally {
        release();
        await first;
      }
      assert.equal(await second, 'LIMIT_EXCEEDED');
      assert.deepEqual(
        (await db.selectFrom('sandboxes').select('name').where('owner_id', '=', alice.id).execute()).map((r) => r.name),
        ['one'],
      );
      await db.deleteFrom('sandboxes').where('owner_id', '=', alice.id).execute();
    });

    it('ten creates at once at the limit: exactly one is recorded', async () => {
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => insertChecked(db, sandbox(alice.id, `many-${i}`))));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as BothubError).code, 'LIMIT_EXCEEDED', String(r.reason));
      assert.equal((await db.selectFrom('sandboxes').select('id').where('owner_id', '=', alice.id).execute()).length, 1);
    });
  });
}

describe('BOTHUB_DATABASE_URL at start-up: one clear line', () => {
  it('a URL that is not a PostgreSQL one is refused before anything starts, by the daemon and by `bothub serve`', async () => {
    for (const bad of ['mysql://u:secret@h/db', 'postgres://u:secret@h', 'not a url', 'postgres:///db']) {
      const e = await caught((async () => daemonConfig({ dataDir: dir }, { BOTHUB_DATABASE_URL: bad }))());
      assert.ok(e instanceof BothubError && e.code === 'INVALID_INPUT', String(e));
      assert.match(e.message, /^BOTHUB_DATABASE_URL must look like postgres:\/\/USER:PASSWORD@HOST:5432\/DATABASE/);
      assert.doesNotMatch(e.message, /secret/);
    }
    const dataDir = join(dir, 'serve-bad-url');
    const r = await cli('http://127.0.0.1:1', ['serve', '--data-dir', dataDir], undefined, { BOTHUB_DATABASE_URL: 'mysql://u:secret@h/db' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^bothub: BOTHUB_DATABASE_URL must look like/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.doesNotMatch(r.stderr, /secret/);
  });

  it('an unreachable server, a wrong password or a missing database: UNAVAILABLE naming the variable, never the password', async () => {
    const good = new URL(await server.createDatabase());
    const closed = new URL(good);
    closed.port = String(server.port === 1 ? 2 : 1); // nothing listens on port 1
    const wrongPassword = new URL(good);
    wrongPassword.password = 'not-the-password';
    const noDatabase = new URL(good);
    noDatabase.pathname = '/no_such_database';
    for (const [url, why] of [
      [closed, /ECONNREFUSED/],
      [wrongPassword, /password authentication failed/],
      [noDatabase, /database "no_such_database" does not exist/],
    ] as const) {
      const e = await caught(openDatabase({ kind: 'postgres', url: url.toString() }, log));
      assert.ok(e instanceof BothubError && e.code === 'UNAVAILABLE', String(e));
      assert.match(e.message, /^BOTHUB_DATABASE_URL: cannot connect to PostgreSQL at postgres:\/\/bothub:\*\*\*@127\.0\.0\.1:/);
      assert.match(e.message, why);
      assert.ok(!e.message.includes(good.password) && !e.message.includes('not-the-password'), e.message);
      assert.ok(!e.message.includes('\n'));
    }
    // `bothub serve` says the same in one line and exits, having set nothing up.
    const dataDir = join(dir, 'serve-unreachable');
    const r = await cli('http://127.0.0.1:1', ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], undefined, {
      BOTHUB_DATABASE_URL: closed.toString(),
      BOTHUB_BRIDGE: 'bhtpgnone',
    });
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stderr, /^bothub: BOTHUB_DATABASE_URL: cannot connect to PostgreSQL at .*ECONNREFUSED/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    await server.dropDatabase(good.toString());
  });
});
