// GENERATED from src/core/errors.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
/**
 * The error registry: every failure a user can see has a stable code, an HTTP
 * status and a CLI exit code. Messages say what to do next.
 */
export const ERROR_CODES = {
  INVALID_INPUT: { status: 400, exit: 2, doc: 'A field of the request is malformed or out of range.' },
  UNAUTHORIZED: { status: 401, exit: 77, doc: 'No API key, or a wrong one.' },
  FORBIDDEN: { status: 403, exit: 77, doc: 'The API key is valid but may not do this (admin only).' },
  NOT_FOUND: { status: 404, exit: 3, doc: 'No such sandbox, image or route.' },
  NAME_TAKEN: { status: 409, exit: 4, doc: 'The name is used by another sandbox or image.' },
  INVALID_STATE: { status: 409, exit: 5, doc: 'The sandbox is not in a state that allows this.' },
  IN_USE: { status: 409, exit: 5, doc: 'The resource is used by a sandbox.' },
  LIMIT_EXCEEDED: { status: 422, exit: 6, doc: 'A request exceeds what this host can give.' },
  RATE_LIMITED: { status: 429, exit: 75, doc: 'Too many failed attempts; wait and retry.' },
  ABORTED: { status: 499, exit: 130, doc: 'The operation was cancelled.' },
  TIMED_OUT: { status: 504, exit: 124, doc: 'No answer came within the time limit; the operation may still finish on the daemon.' },
  RUNTIME_FAILED: { status: 500, exit: 70, doc: 'runc, the network or the filesystem failed.' },
  INTERNAL: { status: 500, exit: 70, doc: 'An unexpected failure; see the daemon log.' },
  BUSY: { status: 503, exit: 75, doc: 'The host was too busy to do this in time; nothing changed, retry.' },
  UNAVAILABLE: { status: 503, exit: 69, doc: 'The daemon is shutting down or not reachable.' },
  PROVIDER_KEY_REJECTED: { status: 502, exit: 77, doc: 'A GPU provider refused the API key stored for it.' },
  PROVIDER_RATE_LIMITED: { status: 503, exit: 75, doc: 'A GPU provider asked bothub to slow down; retry in a minute.' },
  NO_CAPACITY: { status: 409, exit: 6, doc: 'The provider has no machine left for that offer or GPU.' },
  OFFER_GONE: { status: 410, exit: 3, doc: 'The offer was rented by someone else or withdrawn.' },
  PRICE_CHANGED: { status: 409, exit: 5, doc: "The offer's price changed, or exceeds the price limit." },
  PROVIDER_FAILED: { status: 502, exit: 69, doc: 'A GPU provider answered with an error bothub does not know.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class BothubError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BothubError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.exitCode = ERROR_CODES[code].exit;
  }
}

/**
 * BUSY with when to try again (sent as Retry-After) and, for the operator's
 * log only, which limit was hit (the message is the caller's: it says retry).
 */
export class BusyError extends BothubError {
  constructor(
    message: string,
    readonly retryAfterS: number,
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super('BUSY', message, options);
    this.name = 'BusyError';
  }
}

export const isBothubError = (e: unknown): e is BothubError => e instanceof BothubError;

export function invalid(message: string): BothubError {
  return new BothubError('INVALID_INPUT', message);
}

export function notFound(kind: string, name: string, hint: string): BothubError {
  return new BothubError('NOT_FOUND', `no ${kind} named "${name}"; ${hint}`);
}

/** Every code, in the registry's order (Object.keys keeps it; its type is the registry's keys). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** The shape of every error reply: defined as a schema in error-reply.ts (a type here, so the CLI starts without TypeBox). */
export type { ErrorBody } from './error-reply.js';
