import { Type, type Static } from 'typebox';
import { ArgText, Timestamp } from './common.js';

/** Secrets: sealed values exposed to sandboxes as environment variables. */

export const SecretName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' });

export const SecretParams = Type.Object({ name: SecretName }, { additionalProperties: false });

export const Secret = Type.Object({ name: Type.String(), createdAt: Timestamp, updatedAt: Timestamp });

export const SetSecret = Type.Object({ value: ArgText({ maxLength: 65536, description: 'Exposed to sandboxes as an environment variable.' }) }, { additionalProperties: false });

export type SecretT = Static<typeof Secret>;
