import { PostgresAdapter, sql, type QueryExecutorProvider } from 'kysely';

/** Whether this database (or transaction) runs on PostgreSQL; otherwise it is SQLite. */
export function isPostgres(db: QueryExecutorProvider): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Advisory lock keys: fixed numbers no other lock uses ("plac" and "evnt" in ASCII). */
const PLACEMENT_LOCK = 0x706c6163;
const EVENTS_LOCK = 0x65766e74;

const advisoryLock = async (tx: QueryExecutorProvider, key: number) => {
  if (isPostgres(tx)) await sql`select pg_advisory_xact_lock(${sql.lit(key)})`.execute(tx);
};

/**
 * Serializes the transactions that place sandboxes: the quota check, free
 * addresses and free GPUs are read and then written in one transaction, which
 * is only sound if no other such transaction runs in between. SQLite already
 * runs one transaction at a time (Kysely's driver holds its one connection
 * for the whole transaction); on PostgreSQL, where transactions run side by
 * side at READ COMMITTED, a transaction-scoped advisory lock does it, released
 * by the commit or rollback. Taken first in the transaction, before the reads
 * it protects; taking it again in the same transaction is harmless.
 */
export const lockPlacement = (tx: QueryExecutorProvider): Promise<void> => advisoryLock(tx, PLACEMENT_LOCK);

/**
 * Makes the event ids commit in order. SQLite hands out ids in commit order
 * (one writer); PostgreSQL takes them from a sequence when the row is
 * inserted, so two transactions could commit ids 6 then 5, and a reader that
 * had read past 6 would never see 5. Inserting under this lock, held until
 * the commit, rules that out.
 */
export const lockEventOrder = (tx: QueryExecutorProvider): Promise<void> => advisoryLock(tx, EVENTS_LOCK);

/**
 * A write refused because `table.column` must be unique. SQLite says so in its
 * message; PostgreSQL with SQLSTATE 23505 and the constraint's default name
 * (table_column_key).
 */
export function isUniqueViolation(e: unknown, table: string, column: string): boolean {
  const pg = e as { code?: unknown; constraint?: unknown };
  if (pg?.code === '23505') return pg.constraint === `${table}_${column}_key`;
  return String(e).includes(`UNIQUE constraint failed: ${table}.${column}`);
}
