import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Dialect, type MigrationProvider } from 'kysely';
import pino, { type Logger } from 'pino';
import type { DatabaseTarget } from './database-url.js';
import { isPostgres } from './dialect.js';
import { migrations } from './migrations.js';
import { PortableSchemaPlugin } from './portable-schema.js';
import { withBusyErrors } from './busy-driver.js';
import { connectPostgres, DEFAULT_POSTGRES_POOL, DEFAULT_POSTGRES_WAIT_MS } from './postgres.js';
import { withStatementCache } from './statement-cache.js';
import type { Tables } from './tables.js';

export type Db = Kysely<Tables>;
export type { DatabaseTarget } from './database-url.js';

/**
 * How long a SQLite write waits for another connection's write lock. better-sqlite3 waits
 * synchronously (the event loop with it), so this stays short; past it the request is answered BUSY.
 */
const DEFAULT_SQLITE_WAIT_MS = 5000;

/** SQLite (WAL, so readers never wait on the writer), with each statement prepared once. */
function sqliteDialect(file: string, waitMs: number): Dialect {
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${waitMs}`);
  return new SqliteDialect({ database: withStatementCache(sqlite) });
}

/** Opens the state database and migrates it: the same migrations on both engines. */
export async function openDatabase(target: DatabaseTarget, log: Logger = pino({ level: 'silent' })): Promise<Db> {
  // A database that is busy or away answers BUSY (503, Retry-After) to every caller, not INTERNAL.
  let dialect: Dialect;
  if (target.kind === 'postgres') {
    const pool = target.pool ?? DEFAULT_POSTGRES_POOL;
    const waitMs = target.waitMs ?? DEFAULT_POSTGRES_WAIT_MS;
    dialect = withBusyErrors(await connectPostgres(target.url, log, pool, waitMs), { engine: 'postgres', pool, waitMs });
  } else {
    const waitMs = target.waitMs ?? DEFAULT_SQLITE_WAIT_MS;
    dialect = withBusyErrors(sqliteDialect(target.file, waitMs), { engine: 'sqlite', waitMs });
  }
  const db = new Kysely<Tables>({ dialect });
  try {
    await migrate(db);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return db;
}

async function migrate(db: Db): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  // Kysely's migrator takes a lock first on PostgreSQL, so daemons starting together migrate once.
  const migrating = isPostgres(db) ? db.withPlugin(new PortableSchemaPlugin()) : db;
  const { error, results } = await new Migrator({ db: migrating, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) throw new Error(`migrating the state database failed at ${failed?.migrationName ?? '?'}: ${String(error)}`);
}
