import { PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import { redactUrl } from './database-url.js';

/** How long a statement waits for a connection of the pool (a free one, or a new one made) before it is answered BUSY. */
export const DEFAULT_POSTGRES_WAIT_MS = 10_000;
/** Connections per daemon: every daemon's pool together must fit in PostgreSQL's max_connections (100 by default). */
export const DEFAULT_POSTGRES_POOL = 10;

/** int8 (counts, 64-bit columns) and numeric (sums) arrive as strings by default; the rows hold numbers, as SQLite's do. */
const INT8 = 20;
const NUMERIC = 1700;
const asNumber = (text: string) => Number(text);

/** pg's own parser for every other type (typed `any` by @types/pg). */
const builtInParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => (value: string) => unknown;

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8 || oid === NUMERIC ? asNumber : builtInParser(oid, format))) as typeof pg.types.getTypeParser,
};

/**
 * A pool of `size` connections to the database at `url`, with the first
 * connection made here: an unreachable server or a refused login stops the
 * start with one line naming BOTHUB_DATABASE_URL (never its password).
 */
export async function connectPostgres(url: string, log: Logger, size = DEFAULT_POSTGRES_POOL, waitMs = DEFAULT_POSTGRES_WAIT_MS): Promise<PostgresDialect> {
  const pool = new pg.Pool({ connectionString: url, types, max: size, connectionTimeoutMillis: waitMs, application_name: 'bothub', allowExitOnIdle: true });
  // A connection dropped while idle (the server restarted) is replaced by the next query; unhandled, it would end the daemon.
  pool.on('error', (e) => log.warn({ err: e.message }, 'PostgreSQL dropped an idle connection'));
  // pg emits 'error' on a connection lost while it is lent out too, and the pool listens only while it is idle:
  // unheard, it would end the daemon. The statement in flight fails on its own (answered BUSY), and the pool drops the connection when it is given back.
  pool.on('connect', (client) => client.on('error', (e) => log.debug({ err: e.message }, 'PostgreSQL dropped a connection in use')));
  try {
    const client = await pool.connect();
    client.release();
  } catch (e) {
    await pool.end().catch(() => undefined);
    const why = (e as Error).message || String(e);
    throw new BothubError(
      'UNAVAILABLE',
      `BOTHUB_DATABASE_URL: cannot connect to PostgreSQL at ${redactUrl(url)} (${why.replace(/\s+/g, ' ')}); check that the server runs and the URL's host, port, user, password and database are right`,
      { cause: e },
    );
  }
  return new PostgresDialect({ pool });
}
