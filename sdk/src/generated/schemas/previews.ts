// GENERATED from src/api/schemas/previews.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.js';

/** Preview URLs of sandbox ports and share links to them. */

export const Publish = Type.Object(
  { port: Type.Integer({ minimum: 1, maximum: 65535 }), public: Type.Optional(Type.Boolean({ description: "Open to anyone; otherwise the owner's key is needed." })) },
  { additionalProperties: false },
);

export const PortParams = Type.Object({ name: Name, port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false });

export const CreateShare = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86400, description: 'How long the link works; default one hour.' })),
  },
  { additionalProperties: false },
);

export const Share = Type.Object({ id: Type.String(), port: Type.Integer(), expiresAt: Timestamp, revoked: Type.Boolean() });

export const ShareLink = Type.Object({ share: Share, url: Type.String({ description: 'Works without a key until it expires or is revoked.' }), pathUrl: Type.String() });

export const ShareParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{12}$' }) }, { additionalProperties: false });

export type ShareT = Static<typeof Share>;
