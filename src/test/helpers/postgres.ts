import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './free-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import pg from 'pg';
import { until } from './sandbox.js';

/**
 * A PostgreSQL server of the test's own, from Debian's package: a fresh
 * cluster in a temporary directory, listening on a free loopback port with
 * password login, torn down (process and files) by `stop`. Durability is
 * switched off: a test's data need not survive a power cut.
 */
export interface TestPostgres {
  /** A new, empty database on it; its URL, credentials included. */
  createDatabase(): Promise<string>;
  /** Drops a database `createDatabase` made, ending any connections still open to it. */
  dropDatabase(url: string): Promise<void>;
  /** The server's address, for a test that wants to reach it with a wrong password or database. */
  readonly port: number;
  /** Stops the server as a crash would (SIGQUIT to the postmaster: connections cut, no checkpoint); its files stay. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port and files (nothing if it runs); resolves once it takes logins. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'bothub';

/** The newest installed server's programs (postgresql-NN puts them outside PATH). */
function binDir(): string {
  if (process.env.BOTHUB_TEST_PG_BIN) return process.env.BOTHUB_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); scripts/setup installs Debian\'s "postgresql" package');
  return join(root, newest, 'bin');
}

/** Root may not run the server: it runs as the package's "postgres" user, through setpriv. */
function asServerUser(dir: string): { wrap: string[] } {
  if (process.getuid?.() !== 0) return { wrap: [] };
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no "postgres" user to run the test server as; install Debian\'s "postgresql" package (scripts/setup does)');
  const [, , uid, gid] = line.split(':').map(Number);
  for (const f of readdirSync(dir)) chownSync(join(dir, f), uid!, gid!);
  chownSync(dir, uid!, gid!);
  return { wrap: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'] };
}

function run(argv: string[], log: number): Promise<void> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log] });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'bothub-pg-'));
  chmodSync(dir, 0o700);
  const password = randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'password'), `${password}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'server.log'), '', { mode: 0o600 });
  const { wrap } = asServerUser(dir);
  const log = openSync(join(dir, 'server.log'), 'a');
  let server: ChildProcess | undefined;
  const stopNow = () => {
    if (server?.exitCode === null) server.kill('SIGQUIT');
    closeSync(log);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  // If the test process ends without `stop` (a crash, an assertion in a before hook), nothing stays behind either.
  process.once('exit', stopNow);
  try {
    const data = join(dir, 'data');
    await run(
      [...wrap, join(bin, 'initdb'), '-D', data, '-U', USER, `--pwfile=${join(dir, 'password')}`, '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'],
      log,
    );
    const port = await freePort();
    const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: dir, fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '200' };
    const argv = [...wrap, join(bin, 'postgres'), '-D', data, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const admin = { host: '127.0.0.1', port, user: USER, password, database: 'postgres' };
    let exited: Promise<unknown> = Promise.resolve();
    const launch = async () => {
      server = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log] });
      exited = once(server, 'exit');
      // Ready once it accepts a login; a server that exits (its port taken meanwhile) fails the start at once.
      await until(
        'the test PostgreSQL server to accept connections',
        async () => {
          if (server!.exitCode !== null) throw new Error(`the test PostgreSQL server exited: ${readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000)}`);
          const client = new pg.Client(admin);
          try {
            await client.connect();
            return true;
          } catch {
            return undefined;
          } finally {
            await client.end().catch(() => undefined);
          }
        },
        30_000,
      );
    };
    await launch();
    const query = async (text: string) => {
      const client = new pg.Client(admin);
      await client.connect();
      try {
        await client.query(text);
      } finally {
        await client.end();
      }
    };
    return {
      port,
      async createDatabase() {
        const name = `bothub_${randomBytes(6).toString('hex')}`;
        await query(`create database ${name}`);
        return `postgres://${USER}:${password}@127.0.0.1:${port}/${name}`;
      },
      async dropDatabase(url) {
        const name = new URL(url).pathname.slice(1);
        if (!/^bothub_[0-9a-f]+$/.test(name)) throw new Error(`not a test database: ${name}`);
        await query(`drop database if exists ${name} with (force)`);
      },
      async halt() {
        if (server!.exitCode !== null || server!.signalCode !== null) return;
        server!.kill('SIGQUIT');
        await exited;
      },
      async resume() {
        if (server!.exitCode === null && server!.signalCode === null) return;
        await launch();
      },
      async stop() {
        process.removeListener('exit', stopNow);
        if (server!.exitCode === null && server!.signalCode === null) {
          server!.kill('SIGINT'); // fast shutdown: ends sessions, writes nothing more
          await exited;
        }
        closeSync(log);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    process.removeListener('exit', stopNow);
    stopNow();
    throw e;
  }
}

let shared: Promise<TestPostgres> | undefined;

/** Whether test daemons keep their state in PostgreSQL (BOTHUB_TEST_DB=postgres) rather than SQLite. */
export const testOnPostgres = () => process.env.BOTHUB_TEST_DB === 'postgres';

/** One server for the whole test process, started on first use. */
export function sharedPostgres(): Promise<TestPostgres> {
  return (shared ??= startPostgres());
}

/** Stops the shared server, if one was started. */
export async function stopSharedPostgres(): Promise<void> {
  const server = shared;
  shared = undefined;
  if (server) await (await server).stop();
}
