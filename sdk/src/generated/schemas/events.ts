// GENERATED from src/api/schemas/events.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';
import { Nullable, Name, Timestamp } from './common.js';

/** State changes of sandboxes, listed or streamed. */

export const Event = Type.Object({
  id: Type.Integer({ description: 'Increasing; resume a stream with ?after=<the last id seen>.' }),
  sandbox: Type.String(),
  type: Type.String({
    description:
      'created, destroyed, moved (detail "from A to B"), a new status (running, stopped, exited, error, snapshotted, moving; detail the reason), warm, cold, woke, wake-failed, lazy-restore-failed (the page source of a lazy restore died: the sandbox was killed and is cold or stopped), published, unpublished, shared.',
  }),
  detail: Nullable(Type.String()),
  at: Timestamp,
});

export const EventsQuery = Type.Object({ sandbox: Type.Optional(Name), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })) }, { additionalProperties: false });

export type EventT = Static<typeof Event>;

export const EventsStreamQuery = Type.Object(
  {
    sandbox: Type.Optional(Name),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'Send the events after this id first (the backlog), then live ones; absent: live ones only.' })),
  },
  { additionalProperties: false },
);
