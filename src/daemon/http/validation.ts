import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { PATTERN_RULES } from '../../api/index.js';

/** Unknown fields are refused, not silently dropped: a typo must not go unnoticed. */
const COMMON: Options = { removeAdditional: false, allErrors: false, useDefaults: true, addUsedSchema: false };

function ajv(options: Options): Ajv {
  const a = new Ajv({ ...COMMON, ...options });
  addFormats.default(a);
  return a;
}

/**
 * Path and query parameters arrive as text and are coerced to their types
 * ("5" → 5, `?a=1` → [1]). JSON bodies and WebSocket messages are not: they
 * carry their own types, and coercion there turns a null into 0 or a 0 into
 * null, whichever the schema's union tries first.
 */
const text = ajv({ coerceTypes: 'array' });
const json = ajv({ coerceTypes: false });

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  return ({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema as object);
}

const compiled = new WeakMap<object, ValidateFunction>();

/** The JSON bodies' validator, for JSON that does not come as a body (WebSocket messages); compiled once per schema. */
export function jsonValidator(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) compiled.set(schema, (v = json.compile(schema)));
  return v;
}

/** One validation error as one line, `where` naming the part ("body", "message"); patterns are said in words. */
export function describeValidationError(e: ErrorObject, where: string): string {
  const rule = e.keyword === 'pattern' ? PATTERN_RULES[String(e.params.pattern)] : undefined;
  return `${where}${e.instancePath} ${rule ?? e.message ?? 'is not valid'}`;
}
