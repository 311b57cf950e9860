import type { JsonSchemaType, jsonSchemaValidator } from '@modelcontextprotocol/server';
import { Ajv, type ErrorObject } from 'ajv';

const ajv = new Ajv({ allErrors: true, verbose: true, coerceTypes: false, useDefaults: true });

/** The values a union of constants allows (an enum as TypeBox writes it), when this error is that union's. */
function enumOf(e: ErrorObject): unknown[] | undefined {
  const consts = e.keyword === 'anyOf' ? (e.parentSchema as { anyOf?: { const?: unknown }[] }).anyOf?.map((s) => s.const) : undefined;
  return consts?.every((c) => c !== undefined) ? consts : undefined;
}

/** One Ajv error in words a model can act on: which argument, what is wrong, what it should be. */
function describe(e: ErrorObject): string {
  const at = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'additionalProperties') return `"${(e.params as { additionalProperty: string }).additionalProperty}"${at ? ` in ${at}` : ''} is not an argument of this tool`;
  if (e.keyword === 'required') return `missing argument "${[at, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join('.')}"`;
  const consts = enumOf(e);
  if (consts) return `${at} must be one of ${consts.map((c) => JSON.stringify(c)).join(', ')}`;
  const hint = (e.parentSchema as { description?: string } | undefined)?.description;
  return `${at || 'arguments'} ${e.message ?? 'is not valid'}${hint && e.keyword !== 'type' ? ` (${hint})` : ''}`;
}

/**
 * Validates tool arguments against the API's schemas, as the daemon does its
 * requests, and says what is wrong the way bothub's errors do: the stable code
 * INVALID_INPUT, then each argument at fault (one message per argument).
 */
export const argumentValidator: jsonSchemaValidator = {
  getValidator<T>(schema: JsonSchemaType) {
    const check = ajv.compile(schema as object);
    return (input: unknown) => {
      if (check(input)) return { valid: true, data: input as T, errorMessage: undefined };
      const errors = check.errors ?? [];
      // Each constant of an enum fails on its own: the enum's one error says it better. Other unions: their branches' errors do.
      const enums = new Set(errors.filter((e) => enumOf(e)).map((e) => e.instancePath));
      const seen = new Map<string, string>();
      for (const e of errors) {
        if (enums.has(e.instancePath) ? !enumOf(e) : e.keyword === 'anyOf') continue;
        if (!seen.has(e.instancePath + e.keyword)) seen.set(e.instancePath + e.keyword, describe(e));
      }
      return { valid: false, data: undefined, errorMessage: `INVALID_INPUT: ${[...seen.values()].join('; ')}` };
    };
  },
};
