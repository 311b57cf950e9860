import { Type, type Static } from 'typebox';
import { ERROR_CODE_LIST } from './errors.js';

/**
 * The shape of every error reply of the API (and of an error on a socket or an
 * NDJSON stream): the API's ErrorReply, whose code lists the registry's codes.
 * Kept out of core's index (which the CLI loads at start) since it needs TypeBox.
 */
export const ErrorReplySchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.Enum(ERROR_CODE_LIST, { description: "Stable error code; see x-bothub-error-codes for each one's HTTP status and CLI exit code." }),
  error: Type.String(),
  message: Type.String({ description: 'What went wrong and what to do next.' }),
});
export type ErrorBody = Static<typeof ErrorReplySchema>;
