// GENERATED from src/api/schemas/snapshot-store.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';

/** A snapshot's durability: the sandbox runs again as soon as CRIU is done; its durable copy follows. */
export const SnapshotStatus = Type.Union([Type.Literal('saving'), Type.Literal('ready')], {
  description: "'saving' while its durable copy is written (a restore waits for it), 'ready' once synced to disk.",
});

export const SnapshotUniqueBytes = Type.Integer({
  description: 'What deleting it alone would free in the deduplicated store (chunks no other snapshot uses).',
});

/** The deduplicated snapshot store, as `bothub doctor` shows it. */
export const SnapshotStoreStats = Type.Object({
  chunks: Type.Integer(),
  storedBytes: Type.Integer({ description: 'Bytes the chunks take on disk.' }),
  logicalBytes: Type.Integer({ description: 'What the snapshots in the store would take without deduplication.' }),
  savedBytes: Type.Integer({ description: 'logicalBytes less storedBytes.' }),
});

export type SnapshotStoreStatsT = Static<typeof SnapshotStoreStats>;
