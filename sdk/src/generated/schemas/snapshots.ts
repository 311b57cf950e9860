// GENERATED from src/api/schemas/snapshots.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.js';
import { SnapshotStatus, SnapshotUniqueBytes } from './snapshot-store.js';

/** Snapshots: checkpoints of a running sandbox, and restoring them. */

export const Snapshot = Type.Object({
  id: Type.String(),
  name: Type.String(),
  sandbox: Type.String({ description: 'The sandbox it was taken of.' }),
  sizeBytes: Type.Integer(),
  leaveRunning: Type.Boolean(),
  createdAt: Timestamp,
  status: SnapshotStatus,
  uniqueBytes: Type.Optional(SnapshotUniqueBytes),
  frozenMs: Type.Optional(Type.Number({ description: 'How long the sandbox was frozen while the snapshot was taken.' })),
  encrypted: Type.Optional(Type.Boolean({ description: 'Encrypted at rest (AES-256-GCM): the sandbox held secrets.' })),
  host: Type.Optional(
    Type.Object(
      { kernel: Type.String(), arch: Type.String(), cpuModel: Type.String(), criuVersion: Type.String(), runcVersion: Type.String() },
      { description: 'The host that wrote it.' },
    ),
  ),
  keptOn: Type.Optional(
    Type.String({ description: "The fleet host whose store keeps its files (control planes only: its agent took it, and restores it there); absent: this daemon's store." }),
  ),
  statusReason: Type.Optional(Type.String({ description: 'Why it cannot be restored now: the host that keeps it was removed or does not answer.' })),
});

export const CreateSnapshot = Type.Object(
  {
    name: Name,
    leaveRunning: Type.Optional(Type.Boolean({ description: 'Keep the sandbox running; otherwise it stops, snapshotted.' })),
  },
  { additionalProperties: false },
);

export const RestoreSnapshot = Type.Object(
  {
    name: Type.Optional(Type.Intersect([Name], { description: "Branch a new sandbox with this name; absent: resume the snapshot's own sandbox." })),
    host: Type.Optional(Type.Intersect([Name], { description: 'Restore it on this fleet host (checked by the compatibility gate); absent: where the snapshot is. One a fleet host keeps (`keptOn`) is copied to the host named here and restored there, and stays kept where it was; a branch its host has no room for goes where the scheduler finds room.' })),
  },
  { additionalProperties: false },
);

export const SnapshotListQuery = Type.Object({ sandbox: Type.Optional(Name) }, { additionalProperties: false });

export type SnapshotT = Static<typeof Snapshot>;
