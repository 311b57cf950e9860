import { invalid, parseDuration } from '../../core/index.js';

/**
 * Where the state lives: a SQLite file on the daemon's disk (the default), or a PostgreSQL
 * database; with how many connections (PostgreSQL) and how long a statement waits for one,
 * or for SQLite's write lock, before its request is answered BUSY (ms).
 */
export type DatabaseTarget = { kind: 'sqlite'; file: string; waitMs?: number } | { kind: 'postgres'; url: string; pool?: number; waitMs?: number };

/**
 * Checks BOTHUB_DATABASE_URL's form at start-up, before anything is set up,
 * so a typo stops the daemon with one line naming the variable.
 */
export function parseDatabaseUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !['postgres:', 'postgresql:'].includes(url.protocol) || !url.hostname || url.pathname.length < 2)
    throw invalid(`BOTHUB_DATABASE_URL must look like postgres://USER:PASSWORD@HOST:5432/DATABASE (got "${redactUrl(text)}"); unset it to keep the state in SQLite`);
  return text;
}

/** The URL as it may be shown: without its password. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    // Not a URL at all: whatever sits between "//" and "@" may still be a credential.
    return text.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** BOTHUB_DATABASE_POOL: the PostgreSQL connections of one daemon (what an operator raises when requests are answered BUSY). */
export function parseDatabasePool(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > 1000)
    throw invalid(`invalid BOTHUB_DATABASE_POOL "${text}": use a whole number of PostgreSQL connections from 1 to 1000, such as 10 (every daemon's pool must fit in PostgreSQL's max_connections)`);
  return n;
}

/** BOTHUB_DATABASE_WAIT: how long a statement waits for a connection or the write lock before its request is answered BUSY. */
export function parseDatabaseWait(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const ms = /^\d+(ms|s|m)?$/.test(text.trim()) ? parseDuration(text) : NaN;
  if (!(ms >= 1 && ms <= 600_000)) throw invalid(`invalid BOTHUB_DATABASE_WAIT "${text}": use a duration from 1ms to 10m, such as 10s or 500ms`);
  return ms;
}
