import { PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import { redactUrl } from './database-url.js';

/** How long a new connection may take before the start (or a query) gives up. */
const CONNECT_TIMEOUT_MS = 10_000;

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
 * A pool of connections to the database at `url`, with the first connection
 * made here: an unreachable server or a refused login stops the start with
 * one line naming BOTHUB_DATABASE_URL (never its password).
 */
export async function connectPostgres(url: string, log: Logger): Promise<PostgresDialect> {
  const pool = new pg.Pool({ connectionString: url, types, max: 10, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'bothub', allowExitOnIdle: true });
  // A connection dropped while idle (the server restarted) is replaced by the next query; unhandled, it would end the daemon.
  pool.on('error', (e) => log.warn({ err: e.message }, 'PostgreSQL dropped an idle connection'));
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
