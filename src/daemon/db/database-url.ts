import { invalid } from '../../core/index.js';

/** Where the state lives: a SQLite file on the daemon's disk (the default), or a PostgreSQL database. */
export type DatabaseTarget = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

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
