// GENERATED from src/api/schemas/common.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from 'typebox';
import { ErrorReplySchema } from '../error-reply.js';
import { NAME_PATTERN } from '../vocabulary.js';

export { NAME_PATTERN };

/** Building blocks every resource uses: names, argument text, paths, timestamps, the error body, progress. */

/** T or null ("no limit", "not yet"). */
export const Nullable = <T extends TSchema>(t: T, options?: Parameters<typeof Type.Union>[1]) => Type.Union([Type.Null(), t], options);

type LiteralsOf<V extends readonly string[]> = { -readonly [K in keyof V]: TLiteral<V[K]> };
/** One of a fixed list of words (the lists are core's); the cast keeps the tuple that map() widens to an array. */
export const Literals = <const V extends readonly string[]>(values: V, options?: Parameters<typeof Type.Union>[1]): TUnion<LiteralsOf<V>> =>
  Type.Union(values.map((v) => Type.Literal(v)), options) as unknown as TUnion<LiteralsOf<V>>;

export const Name = Type.String({ pattern: NAME_PATTERN, description: 'Lowercase letters, digits and dashes; a DNS label.' });

/**
 * Text that becomes a process argument, an environment variable or a path:
 * the kernel takes none of them with a NUL byte, so the schema refuses one
 * (a 400 that names the field) before it can reach a spawn.
 */
export const NO_NUL_PATTERN = '^[^\\u0000]*$';

export const ABSOLUTE_PATH_PATTERN = '^/[^\\u0000]*$';

/** What the patterns above mean, in words, for error messages. */
export const PATTERN_RULES: Readonly<Record<string, string>> = {
  [NO_NUL_PATTERN]: 'must not contain a NUL byte (\\0): no process argument, environment variable or path can hold one; remove it',
  [ABSOLUTE_PATH_PATTERN]: 'must be an absolute path (starting with /) with no NUL byte (\\0) in it',
};

export const ArgText = (options: { maxLength: number; description?: string }) => Type.String({ ...options, pattern: NO_NUL_PATTERN });

export const AbsolutePath = (options: { maxLength: number; description?: string }) => Type.String({ minLength: 1, ...options, pattern: ABSOLUTE_PATH_PATTERN });

export const Env = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), ArgText({ maxLength: 65536 }), { description: 'Environment variables.' });

export const Timestamp = Type.String({ format: 'date-time' });

export const NameParams = Type.Object({ name: Name }, { additionalProperties: false });

/** Defined with the error registry in core (the daemon and clients build and read it there). */
export const ErrorReply = ErrorReplySchema;

export const Health = Type.Object({ status: Type.Literal('ok'), version: Type.String() });

export const ProgressEvent = Type.Object({
  step: Type.String(),
  message: Type.Optional(Type.String()),
  done: Type.Optional(Type.Number()),
  total: Type.Optional(Type.Number()),
});

export type ProgressEventT = Static<typeof ProgressEvent>;
