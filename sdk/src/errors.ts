import { ERROR_CODES, type ErrorBody, type ErrorCode } from './generated/errors.js';

export { ERROR_CODES, type ErrorCode, type ErrorBody };

/**
 * Every failure the SDK reports: the daemon's stable error code, its HTTP
 * status, and its message, which already says what to do next (`hint` is
 * that part alone).
 */
export class BothubError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** What to do next: the message's last clause ("…; <hint>"), else the registry's line for the code. */
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options?.status ?? ERROR_CODES[code].status;
    const cut = message.lastIndexOf('; ');
    this.hint = cut >= 0 ? message.slice(cut + 2) : ERROR_CODES[code].doc;
  }
}

/** No such sandbox, snapshot, image, host, command or file. */
export class NotFoundError extends BothubError {}
/** The name is used by another sandbox, snapshot or image. */
export class NameTakenError extends BothubError {}
/** A quota or host capacity was exceeded (LIMIT_EXCEEDED). */
export class QuotaError extends BothubError {}
/** A field of the request is malformed or out of range. */
export class InvalidInputError extends BothubError {}
/** The sandbox is not in a state that allows this, or the resource is in use (INVALID_STATE, IN_USE). */
export class WrongStateError extends BothubError {}
/** The daemon cannot be reached, is shutting down, a fleet host is down, or the host was too busy to act in time (UNAVAILABLE, BUSY). */
export class UnreachableError extends BothubError {}
/** No key, a wrong key, a key that may not do this, or too many failed attempts (UNAUTHORIZED, FORBIDDEN, RATE_LIMITED). */
export class AuthError extends BothubError {}
/** The daemon or the sandbox runtime failed (RUNTIME_FAILED, INTERNAL). */
export class ServerError extends BothubError {}
/** The call was cancelled through its AbortSignal (ABORTED). */
export class AbortedError extends BothubError {}
/** The call ran past its deadline (TIMED_OUT); an AbortedError too, since the deadline cancelled it. */
export class TimeoutError extends AbortedError {}

/** Which class each code of the registry maps to; a new code must be placed here (the type says so). */
export const ERROR_CLASSES: Record<ErrorCode, new (code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) => BothubError> = {
  INVALID_INPUT: InvalidInputError,
  UNAUTHORIZED: AuthError,
  FORBIDDEN: AuthError,
  RATE_LIMITED: AuthError,
  NOT_FOUND: NotFoundError,
  NAME_TAKEN: NameTakenError,
  INVALID_STATE: WrongStateError,
  IN_USE: WrongStateError,
  LIMIT_EXCEEDED: QuotaError,
  ABORTED: AbortedError,
  TIMED_OUT: TimeoutError,
  RUNTIME_FAILED: ServerError,
  INTERNAL: ServerError,
  BUSY: UnreachableError,
  UNAVAILABLE: UnreachableError,
  PROVIDER_KEY_REJECTED: AuthError,
  PROVIDER_RATE_LIMITED: UnreachableError,
  NO_CAPACITY: QuotaError,
  OFFER_GONE: NotFoundError,
  PRICE_CHANGED: WrongStateError,
  PROVIDER_FAILED: UnreachableError,
};

/** The error of the right class for a code. */
export function bothubError(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }): BothubError {
  return new ERROR_CLASSES[code](code, message, options);
}

/** The error an error body (a JSON reply, an NDJSON line, a WebSocket message) describes. */
export function errorFromBody(body: Partial<ErrorBody> | undefined, status?: number): BothubError {
  const code = body?.code && body.code in ERROR_CODES ? body.code : status === 503 ? 'UNAVAILABLE' : 'INTERNAL';
  return bothubError(code, body?.message ?? `the daemon answered ${status ?? 'an error'} without a message`, { status });
}

/** Turns a non-2xx reply into its error. */
export async function errorFromResponse(res: Response): Promise<BothubError> {
  const text = await res.text().catch(() => '');
  try {
    return errorFromBody(JSON.parse(text) as ErrorBody, res.status);
  } catch {
    return errorFromBody({ message: `the daemon answered ${res.status}: ${text.slice(0, 200) || res.statusText}` }, res.status);
  }
}

/** A command run with `check: true` exited with a non-zero code; `result` holds its output. */
export class CommandExitError<R extends { exitCode: number; stderr: string }> extends Error {
  constructor(readonly result: R) {
    super(`the command exited with code ${result.exitCode}${result.stderr ? `: ${result.stderr.trim().split('\n').slice(-1)[0]}` : ''}`);
    this.name = 'CommandExitError';
  }

  get exitCode(): number {
    return this.result.exitCode;
  }
}
