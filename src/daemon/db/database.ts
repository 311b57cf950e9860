import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Dialect, type MigrationProvider } from 'kysely';
import pino, { type Logger } from 'pino';
import type { DatabaseTarget } from './database-url.js';
import { isPostgres } from './dialect.js';
import { migrations } from './migrations.js';
import { PortableSchemaPlugin } from './portable-schema.js';
import { connectPostgres } from './postgres.js';
import { withStatementCache } from './statement-cache.js';
import type { Tables } from './tables.js';

export type Db = Kysely<Tables>;
export type { DatabaseTarget } from './database-url.js';

/** SQLite (WAL, so readers never wait on the writer), with each statement prepared once. */
function sqliteDialect(file: string): Dialect {
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new SqliteDialect({ database: withStatementCache(sqlite) });
}

/** Opens the state database and migrates it: the same migrations on both engines. */
export async function openDatabase(target: DatabaseTarget, log: Logger = pino({ level: 'silent' })): Promise<Db> {
  const dialect = target.kind === 'postgres' ? await connectPostgres(target.url, log) : sqliteDialect(target.file);
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
