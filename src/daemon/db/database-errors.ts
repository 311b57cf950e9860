import { BothubError, BusyError } from '../../core/index.js';

/** What the daemon's database connections were set up with: the operator's hint names the limit that was hit. */
export interface DatabaseLimits {
  engine: 'postgres' | 'sqlite';
  /** Connections in the PostgreSQL pool (BOTHUB_DATABASE_POOL). */
  pool?: number;
  /** How long a statement waits for a connection (PostgreSQL) or the write lock (SQLite), ms (BOTHUB_DATABASE_WAIT). */
  waitMs: number;
}

/**
 * The state database could not serve a statement in time, but will again by
 * itself: the pool was full, the server was restarting or out of reach, or
 * another writer held the lock. Answered 503 BUSY with Retry-After; the
 * message tells the caller to retry, `hint` the operator what to raise or check.
 */
export class DatabaseBusyError extends BusyError {
  constructor(retryAfterS: number, hint: string, cause: unknown) {
    super(`the daemon's database could not serve this request in time; retry in ${retryAfterS} s (nothing is wrong with the request)`, retryAfterS, hint, { cause });
    this.name = 'DatabaseBusyError';
  }
}

type Trouble = { retryAfterS: number; hint: (l: DatabaseLimits) => string };

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

const POOL_FULL: Trouble = {
  retryAfterS: 1,
  hint: (l) =>
    `all ${l.pool ?? '?'} PostgreSQL connections of this daemon stayed in use for ${seconds(l.waitMs)}: raise BOTHUB_DATABASE_POOL (PostgreSQL's max_connections must cover every daemon's pool) or BOTHUB_DATABASE_WAIT, or look for slow statements`,
};
const UNREACHABLE: Trouble = {
  retryAfterS: 5,
  hint: () => "PostgreSQL refused or dropped the connection (stopped, restarting, or out of reach): check that it runs and BOTHUB_DATABASE_URL's host and port; the daemon reconnects by itself",
};
const TOO_MANY: Trouble = {
  retryAfterS: 5,
  hint: () => "PostgreSQL's max_connections is reached: raise it, or lower BOTHUB_DATABASE_POOL so that every daemon's pool fits",
};
const CONFLICT: Trouble = { retryAfterS: 1, hint: () => 'PostgreSQL ended a transaction on a serialization failure or deadlock; the retry runs it again' };
const CANCELLED: Trouble = { retryAfterS: 2, hint: () => "a statement ran past PostgreSQL's statement_timeout or lock_timeout (or was cancelled); look for slow statements or long locks" };
const SQLITE_LOCK: Trouble = {
  retryAfterS: 1,
  hint: (l) =>
    `another connection held the SQLite state database's write lock for more than ${seconds(l.waitMs)} (BOTHUB_DATABASE_WAIT): end whatever else has the file open for writing (a backup, a sqlite3 shell)`,
};

/** SQLSTATEs that pass by themselves (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
const PG_STATES: Record<string, Trouble> = {
  '57P01': UNREACHABLE, // admin_shutdown: the server is stopping
  '57P02': UNREACHABLE, // crash_shutdown
  '57P03': UNREACHABLE, // cannot_connect_now: the server is starting
  '53300': TOO_MANY, // too_many_connections
  '40001': CONFLICT, // serialization_failure
  '40P01': CONFLICT, // deadlock_detected
  '57014': CANCELLED, // query_canceled
  '55P03': CANCELLED, // lock_not_available
};

/** Socket errors on the way to the server: the network or the server is away, not the statement wrong. */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

/** pg's own messages, which carry no code. */
function pgMessage(message: string): Trouble | undefined {
  if (message === 'timeout exceeded when trying to connect') return POOL_FULL; // pg-pool: no connection came free in connectionTimeoutMillis
  if (/^Connection terminated|not queryable|Connection ended/.test(message)) return UNREACHABLE;
  return undefined;
}

function classifyOne(err: unknown, engine: DatabaseLimits['engine']): Trouble | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (engine === 'sqlite') return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code) ? SQLITE_LOCK : undefined;
  if (typeof code === 'string') {
    if (PG_STATES[code]) return PG_STATES[code];
    if (code.startsWith('08')) return UNREACHABLE; // class 08: connection exception
    if (NET_CODES.has(code)) return UNREACHABLE;
  }
  return pgMessage(err.message);
}

/** The error itself, its causes, and an AggregateError's members (node tries each address of a host name). */
function* chain(err: unknown, depth = 0): Generator<unknown> {
  if (depth > 4 || err === undefined || err === null) return;
  yield err;
  if (err instanceof AggregateError) for (const e of err.errors) yield* chain(e, depth + 1);
  if (err instanceof Error) yield* chain(err.cause, depth + 1);
}

/**
 * The one place that tells a database failure that passes by itself (answered
 * 503 BUSY) from any other (passed on unchanged: a constraint, a bug).
 * Called by the driver wrapper (busy-driver.ts) on every statement's error.
 */
export function classifyDatabaseError(err: unknown, limits: DatabaseLimits): DatabaseBusyError | undefined {
  if (err instanceof DatabaseBusyError) return err;
  if (err instanceof BothubError) return undefined;
  for (const e of chain(err)) {
    const trouble = classifyOne(e, limits.engine);
    if (trouble) return new DatabaseBusyError(trouble.retryAfterS, trouble.hint(limits), err);
  }
  return undefined;
}
