import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';
import { classifyDatabaseError, type DatabaseLimits } from './database-errors.js';

/**
 * The dialect with every failure of the driver that passes by itself turned
 * into a DatabaseBusyError (503 BUSY with Retry-After) where it happens: so
 * every route, socket, stream and timer sees the same error, whatever
 * service made the query. Other errors (constraints, bugs) pass unchanged.
 */
export function withBusyErrors(dialect: Dialect, limits: DatabaseLimits): Dialect {
  const rethrow = (e: unknown): never => {
    throw classifyDatabaseError(e, limits) ?? e;
  };
  // Awaited inside a try: SQLite's connection throws synchronously, PostgreSQL's rejects.
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      return rethrow(e);
    }
  };
  // Kysely hands the wrapped connection back to the driver (transactions, release): the driver gets its own.
  const inner = new WeakMap<DatabaseConnection, DatabaseConnection>();
  const own = (c: DatabaseConnection) => inner.get(c) ?? c;

  const wrapConnection = (c: DatabaseConnection): DatabaseConnection => {
    const wrapped: DatabaseConnection = {
      executeQuery: <R>(q: CompiledQuery): Promise<QueryResult<R>> => guard(() => c.executeQuery<R>(q)),
      async *streamQuery<R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
        try {
          yield* c.streamQuery<R>(q, chunkSize);
        } catch (e) {
          rethrow(e);
        }
      },
    };
    inner.set(wrapped, c);
    return wrapped;
  };

  const wrapDriver = (d: Driver): Driver => ({
    init: () => guard(() => d.init()),
    acquireConnection: () => guard(async () => wrapConnection(await d.acquireConnection())),
    beginTransaction: (c: DatabaseConnection, settings: TransactionSettings) => guard(() => d.beginTransaction(own(c), settings)),
    commitTransaction: (c: DatabaseConnection) => guard(() => d.commitTransaction(own(c))),
    rollbackTransaction: (c: DatabaseConnection) => guard(() => d.rollbackTransaction(own(c))),
    ...(d.savepoint && { savepoint: (c, name, compile) => guard(() => d.savepoint!(own(c), name, compile)) }),
    ...(d.rollbackToSavepoint && { rollbackToSavepoint: (c, name, compile) => guard(() => d.rollbackToSavepoint!(own(c), name, compile)) }),
    ...(d.releaseSavepoint && { releaseSavepoint: (c, name, compile) => guard(() => d.releaseSavepoint!(own(c), name, compile)) }),
    releaseConnection: (c: DatabaseConnection) => d.releaseConnection(own(c)),
    destroy: () => d.destroy(),
  });

  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => wrapDriver(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
