// GENERATED from src/api/schemas/users.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';
import { Nullable, Name, Timestamp } from './common.js';

/** Users, their quotas, and the web dashboard's sign-in session. */

const Quota = Type.Object(
  {
    maxSandboxes: Nullable(Type.Integer({ minimum: 0 })),
    maxMemoryMb: Nullable(Type.Integer({ minimum: 0 })),
    maxSnapshotBytes: Nullable(Type.Integer({ minimum: 0 })),
    maxDiskMb: Nullable(Type.Integer({ minimum: 0, description: "MB of all their sandboxes' writable layers together (each counts its `diskMb`)." })),
    maxGpus: Nullable(Type.Integer({ minimum: 0, description: 'GPUs their running sandboxes hold at once.' })),
  },
  { description: 'null: no limit.' },
);

export const User = Type.Object({ name: Type.String(), admin: Type.Boolean(), createdAt: Timestamp, quota: Quota });

export const CreateUser = Type.Object({ name: Name, quota: Type.Optional(Type.Partial(Quota, { additionalProperties: false })) }, { additionalProperties: false });

/** The limits to change: each one given is set (null removes it), the others stay. */
export const SetUserQuota = Type.Partial(Quota, { additionalProperties: false, minProperties: 1, description: 'Each limit given is set, null removes it; the others stay.' });

export const UserKey = Type.Object({ user: User, key: Type.String({ description: 'The API key; shown once, never again.' }) });

export const RemoveUserQuery = Type.Object(
  { force: Type.Optional(Type.Boolean({ description: 'Destroy the sandboxes and snapshots the user owns.' })) },
  { additionalProperties: false },
);

export const WhoAmI = Type.Object({ name: Type.String(), admin: Type.Boolean() });

export type UserT = Static<typeof User>;

export type CreateUserT = Static<typeof CreateUser>;

export type SetUserQuotaT = Static<typeof SetUserQuota>;

/* The web dashboard: a sign-in session, live events, resource use. */

export const CreateSession = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 512, description: 'An API key; it is checked once and never stored in the session.' }) },
  { additionalProperties: false },
);

export const WebSession = Type.Object({
  user: WhoAmI,
  csrfToken: Type.String({ description: 'Send as header X-Bothub-CSRF on every call that changes state (not GET/HEAD) made with the session cookie.' }),
  expiresAt: Timestamp,
});

export type WebSessionT = Static<typeof WebSession>;
