// GENERATED from src/api/schemas/snapshot-store.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';

/** A snapshot's durability: the sandbox runs again as soon as CRIU is done; its durable copy follows. */
export const SnapshotStatus = Type.Union([Type.Literal('saving'), Type.Literal('ready')], {
  description: "'saving' while its durable copy is written (a restore reads the dump from its staging area meanwhile), 'ready' once synced to disk.",
});

export const SnapshotUniqueBytes = Type.Integer({
  description: 'What deleting it alone would free in the deduplicated store (chunks no other snapshot uses).',
});

/** The deduplicated snapshot store, as `bothub doctor` shows it. */
export const SnapshotStoreStats = Type.Object({
  chunks: Type.Integer(),
  storedBytes: Type.Integer({ description: 'Bytes the chunks take on disk.' }),
  logicalBytes: Type.Integer({ description: 'What the snapshots (and image layers kept for fleet hosts) in the store would take without deduplication.' }),
  savedBytes: Type.Integer({ description: 'logicalBytes less storedBytes.' }),
  backend: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('s3')], { description: "'s3' with BOTHUB_STORE, else 'local' (the snapshots directory)." })),
  location: Type.Optional(Type.String({ description: 's3://BUCKET/PREFIX, or the local chunk directory.' })),
  reachable: Type.Optional(Type.Boolean({ description: 'Whether the store answered just now (S3: HeadBucket).' })),
  detail: Type.Optional(Type.String({ description: 'Why it is not reachable.' })),
  cacheBytes: Type.Optional(Type.Integer({ description: 'S3 store: bytes of chunks kept in the local cache.' })),
  cacheLimitBytes: Type.Optional(Type.Integer({ description: 'S3 store: the cache size limit (BOTHUB_STORE_CACHE_MB).' })),
});

export type SnapshotStoreStatsT = Static<typeof SnapshotStoreStats>;
