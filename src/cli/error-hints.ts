import type { ErrorCode } from '../core/index.js';

/**
 * What to do next, in the CLI's own commands, for the errors whose message
 * from the daemon speaks in API terms (a header, a route) or says nothing the
 * CLI can act on. One table: every error the CLI prints goes through
 * withHint. A message that already names a `bothub …` command keeps it alone.
 */
export const ERROR_HINTS: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: 'pass --token or set BOTHUB_TOKEN, or run `bothub setup --url URL --token KEY`',
  FORBIDDEN: 'this needs the admin key (`bothub user list` works only with it); ask the admin',
  RATE_LIMITED: 'check the key in --token or BOTHUB_TOKEN',
  BUSY: 'nothing changed; run the same command again',
  UNAVAILABLE: 'check the daemon with `bothub doctor`, or start it with `bothub serve`',
  PROVIDER_KEY_REJECTED: 'store a new key with `bothub provider add`',
};

/** The message and the CLI's hint for its code, as one line. */
export function withHint(code: ErrorCode, message: string): string {
  const hint = ERROR_HINTS[code];
  if (!hint || message.includes('`bothub ')) return message;
  return `${message}; ${hint}`;
}
