import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/** Unknown fields are refused, not silently dropped: a typo must not go unnoticed. */
const COMMON: Options = { removeAdditional: false, allErrors: false, useDefaults: true, addUsedSchema: false };

function ajv(options: Options): Ajv {
  const a = new Ajv({ ...COMMON, ...options });
  addFormats.default(a);
  return a;
}

/**
 * Path and query parameters arrive as text and are coerced to their types
 * ("5" → 5, `?a=1` → [1]). JSON bodies are not: they carry their own types,
 * and coercion there turns a null into 0 or a 0 into null, whichever the
 * schema's union tries first.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const text = ajv({ coerceTypes: 'array' });
  const json = ajv({ coerceTypes: false });
  return ({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema as object);
}
