import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BothubError, BusyError, ERROR_CODES, type ErrorBody, type ErrorCode } from '../../core/index.js';
import { STATUS_CODES } from 'node:http';
import { PATTERN_RULES } from '../../api/index.js';
import { describeValidationError } from './validation.js';

export function errorBody(code: ErrorCode, message: string, status: number = ERROR_CODES[code].status): ErrorBody {
  return { statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message };
}

/** Maps any error to the one reply shape; unknown errors leak nothing but a request id. */
export function toErrorBody(err: unknown, requestId: string): ErrorBody {
  if (err instanceof BothubError) return errorBody(err.code, err.message, err.status);
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    // Name patterns are unreadable as regexes; say the rule in words.
    if (first?.keyword === 'pattern' && /\/name$/.test(first.instancePath)) {
      return errorBody('INVALID_INPUT', 'invalid name: use 1-48 lowercase letters, digits and dashes, starting and ending with a letter or digit');
    }
    if (first?.keyword === 'pattern' && PATTERN_RULES[String(first.params.pattern)]) {
      return errorBody('INVALID_INPUT', `invalid request: ${describeValidationError(first, fe.validationContext ?? 'request')}`);
    }
    return errorBody('INVALID_INPUT', `invalid request: ${fe.message}; see /api/v1/openapi.json for the expected shape`);
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON' || fe instanceof SyntaxError) {
    return errorBody('INVALID_INPUT', `the request body is not valid JSON (${fe.message}); send a JSON object`);
  }
  if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return errorBody('INVALID_INPUT', 'the request body is empty; send a JSON object');
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return errorBody('INVALID_INPUT', `unsupported content type; send application/json`, 415);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return errorBody('INVALID_INPUT', fe.message, fe.statusCode);
  // The schemas refuse NUL bytes where text becomes an argument or a path; this is the net under them:
  // node refuses such a spawn or file call, and that is the caller's input, not our failure.
  if (fe.code === 'ERR_INVALID_ARG_VALUE' && /null bytes/.test(fe.message)) {
    return errorBody('INVALID_INPUT', 'an argument, environment variable or path contains a NUL byte (\\0), which the kernel cannot take; remove it');
  }
  // PostgreSQL cannot store NUL in text (SQLite can): SQLSTATE 22021, the same caller's input as above.
  if (fe.code === '22021' && /0x00/.test(fe.message)) return errorBody('INVALID_INPUT', 'a text field contains a NUL byte (\\0), which cannot be stored; remove it');
  return errorBody('INTERNAL', `internal error; see the daemon log for request ${requestId}`);
}

/** Logs an error reply: a want of capacity (the database's) as a warning with what the operator may raise, other 5xx as ours to fix, 4xx as the caller's. */
export function logErrorReply(log: FastifyBaseLogger, err: unknown, body: ErrorBody, what: string): void {
  if (err instanceof BusyError) log.warn({ err, hint: err.hint }, `answered BUSY: ${err.hint}`);
  else if (body.statusCode >= 500) log.error({ err }, body.message);
  else log.info({ code: body.code, msg: body.message }, what);
}

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const body = toErrorBody(err, req.id);
  logErrorReply(req.log, err, body, 'request refused');
  if (err instanceof BusyError) void reply.header('retry-after', String(err.retryAfterS));
  void reply.code(body.statusCode).send(body);
}
