// GENERATED from src/api/schemas/doctor.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type, type Static } from 'typebox';
import { SnapshotStoreStats } from './snapshot-store.js';

/** What a host can do, and whether the records agree with what runs. */

export const Doctor = Type.Object({
  kernel: Type.String(),
  cgroup: Type.String(),
  runc: Type.Object({ path: Type.String(), version: Type.String() }),
  criu: Type.Object({
    path: Type.String(),
    version: Type.String(),
    check: Type.Boolean(),
    output: Type.String(),
    memoryTracking: Type.Boolean({ description: 'Incremental dumps possible (soft-dirty tracking).' }),
  }),
  capabilities: Type.Array(Type.String()),
  snapshots: Type.Object({ available: Type.Boolean(), detail: Type.String() }),
  store: Type.Optional(SnapshotStoreStats),
});

export const ConsistencyQuery = Type.Object(
  { deep: Type.Optional(Type.Boolean({ description: 'Also restore every snapshot as a throw-away branch, to prove it restores.' })) },
  { additionalProperties: false },
);

export const ConsistencyProblem = Type.Object({
  host: Type.String({ description: '"local", or the fleet host whose agent found it.' }),
  kind: Type.String({ description: 'What is wrong: record-mismatch, orphan-container, orphan-mount, orphan-netns, orphan-veth, orphan-cgroup, orphan-rule, orphan-dir, orphan-sandbox, orphan-snapshot (on a fleet host), damaged-snapshot, unrestorable-snapshot, host-unreachable.' }),
  subject: Type.String({ description: 'The sandbox, snapshot, path or kernel object concerned.' }),
  detail: Type.String(),
  fix: Type.String({ description: 'What to do about it.' }),
});

export const ConsistencyReport = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Object({ sandboxes: Type.Integer(), snapshots: Type.Integer(), restored: Type.Integer({ description: 'Snapshots restored as a throw-away branch (--deep).' }), hosts: Type.Integer() }),
  skipped: Type.Array(Type.String(), { description: 'Sandboxes left out because an operation on them was in flight.' }),
  problems: Type.Array(ConsistencyProblem),
});

export type DoctorT = Static<typeof Doctor>;

export type ConsistencyReportT = Static<typeof ConsistencyReport>;

export type ConsistencyProblemT = Static<typeof ConsistencyProblem>;
