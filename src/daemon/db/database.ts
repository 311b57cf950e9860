import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import { migrations } from './migrations.js';
import { withStatementCache } from './statement-cache.js';
import type { Tables } from './tables.js';

export type Db = Kysely<Tables>;

/** Opens the state database (WAL, so readers never wait on the writer) and migrates it. */
export async function openDatabase(file: string): Promise<Db> {
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) throw new Error(`migrating ${file} failed at ${failed?.migrationName ?? '?'}: ${String(error)}`);
  return db;
}
