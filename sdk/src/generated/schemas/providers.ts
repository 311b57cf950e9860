// GENERATED from src/api/schemas/providers.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';

/* Rented GPU machines: provider keys, offers, rentals, costs. */

const Timestamp = Type.String({ format: 'date-time' });
const HostName = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$' });

export const ProviderName = Type.Union([Type.Literal('vast'), Type.Literal('runpod'), Type.Literal('hyperbolic')]);
export const ProviderParams = Type.Object({ provider: ProviderName }, { additionalProperties: false });
export const AddProvider = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 4096, description: "The provider's API key; stored sealed under the master key." }),
    baseUrl: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048, description: "Another address for the provider's API (a proxy; tests)." })),
  },
  { additionalProperties: false },
);
export const ProviderInfo = Type.Object({ name: ProviderName, baseUrl: Type.String(), createdAt: Timestamp });

export const OffersQuery = Type.Object(
  {
    provider: Type.Optional(ProviderName),
    gpu: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    maxPrice: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10_000, description: 'USD per hour.' })),
  },
  { additionalProperties: false },
);
export const Offer = Type.Object({
  /** provider:id, what `bothub host rent` takes. */
  ref: Type.String(),
  provider: ProviderName,
  id: Type.String(),
  gpuModel: Type.String(),
  gpuCount: Type.Integer(),
  vramMb: Type.Number(),
  usdPerHour: Type.Number(),
  location: Type.String(),
  canCheckpoint: Type.Boolean(),
});
export const OffersReply = Type.Object({
  offers: Type.Array(Offer),
  /** A provider that could not be asked, and why (the others still answer). */
  errors: Type.Array(Type.Object({ provider: ProviderName, code: Type.String(), message: Type.String() })),
});

export const RentHost = Type.Object(
  {
    name: Type.Optional(HostName),
    offer: Type.Optional(Type.String({ minLength: 3, maxLength: 256, description: 'provider:id from `bothub offers`.' })),
    provider: Type.Optional(ProviderName),
    gpu: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    maxPrice: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10_000 })),
    noCheckpoint: Type.Optional(Type.Boolean({ description: 'Rent an offer that cannot checkpoint; its sandboxes can then not freeze, go cold or move.' })),
    idleReleaseSec: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86400, description: 'Release it when every sandbox on it has been idle this long (0: never).' })),
    readyTimeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'How long to wait for SSH before destroying it.' })),
    dataDir: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024, description: "The agent's data directory there; {label} stands for the rental's label (bothub-<id>)." })),
  },
  { additionalProperties: false },
);
export const Rental = Type.Object({
  id: Type.String(),
  provider: ProviderName,
  offerId: Type.String(),
  instanceId: Type.Union([Type.Null(), Type.String()]),
  host: Type.String(),
  status: Type.String(),
  usdPerHour: Type.Number(),
  gpuModel: Type.String(),
  gpuCount: Type.Integer(),
  canCheckpoint: Type.Boolean(),
  idleReleaseSec: Type.Integer(),
  createdAt: Timestamp,
  readyAt: Type.Union([Type.Null(), Timestamp]),
  endedAt: Type.Union([Type.Null(), Timestamp]),
  spentUsd: Type.Number(),
  failure: Type.Union([Type.Null(), Type.String()]),
});
export const CostQuery = Type.Object({ since: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false });
export const CostReport = Type.Object({
  since: Type.Union([Type.Null(), Timestamp]),
  totalUsd: Type.Number(),
  hosts: Type.Array(Type.Object({ host: Type.String(), provider: ProviderName, usdPerHour: Type.Number(), spentUsd: Type.Number(), active: Type.Boolean() })),
  sandboxes: Type.Array(Type.Object({ sandbox: Type.String(), owner: Type.Union([Type.Null(), Type.String()]), spentUsd: Type.Number() })),
  users: Type.Array(Type.Object({ user: Type.String(), spentUsd: Type.Number(), usdPerHourNow: Type.Number(), limitUsdPerHour: Type.Union([Type.Null(), Type.Number()]) })),
});
export const PriceLimitParams = Type.Object({ name: HostName }, { additionalProperties: false });
export const SetPriceLimit = Type.Object({ maxUsdPerHour: Type.Union([Type.Null(), Type.Number({ minimum: 0, maximum: 100_000 })]) }, { additionalProperties: false });
export const ReconcileReport = Type.Object({
  destroyed: Type.Array(Type.Object({ provider: ProviderName, instanceId: Type.String(), label: Type.Union([Type.Null(), Type.String()]) })),
  ended: Type.Array(Type.String({ description: 'Rentals whose instance the provider no longer has.' })),
  errors: Type.Array(Type.String()),
});

export type ProviderNameT = Static<typeof ProviderName>;
export type ProviderInfoT = Static<typeof ProviderInfo>;
export type OfferT = Static<typeof Offer>;
export type OffersReplyT = Static<typeof OffersReply>;
export type RentHostT = Static<typeof RentHost>;
export type RentalT = Static<typeof Rental>;
export type CostReportT = Static<typeof CostReport>;
export type ReconcileReportT = Static<typeof ReconcileReport>;
