import type { Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Distinct statements kept; the daemon's queries are a few hundred shapes, values are parameters. */
const LIMIT = 1000;

/**
 * better-sqlite3 as Kysely's SQLite dialect sees it, with each statement
 * prepared once: Kysely prepares the SQL of every query it runs, and SQLite's
 * parse and plan of a statement then costs more than running it. Statements
 * are reusable once a query is done with them, and the driver runs one query
 * at a time on this connection (it does not stream results here).
 */
export function withStatementCache(db: Database): SqliteDatabase {
  const statements = new Map<string, Statement>();
  return {
    close: () => void db.close(),
    prepare(sql: string) {
      let stmt = statements.get(sql);
      if (!stmt) {
        if (statements.size >= LIMIT) statements.clear();
        stmt = db.prepare(sql);
        statements.set(sql, stmt);
      }
      return stmt;
    },
  };
}
