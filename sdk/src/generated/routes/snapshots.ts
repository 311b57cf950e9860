// GENERATED from src/api/routes/snapshots.ts by sdk/scripts/generate.mjs — do not edit; run `npm run generate -w @bothub/sdk`.
import { Type } from 'typebox';
import * as S from '../schemas.js';
import { LONG_MS, type RouteDef } from './route-def.js';

/** Snapshots, and moving sandboxes between hosts (a move is a snapshot carried over). */
export const snapshotRoutes = {
  createSnapshot: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/snapshots',
    summary: 'Checkpoint a running sandbox: processes, memory, files (NDJSON progress, last line the snapshot).',
    params: S.NameParams,
    body: S.CreateSnapshot,
    stream: 'ndjson',
  },
  listSnapshots: { method: 'GET', url: '/api/v1/snapshots', summary: 'List snapshots, of one sandbox with ?sandbox=.', query: S.SnapshotListQuery, reply: Type.Array(S.Snapshot) },
  getSnapshot: { method: 'GET', url: '/api/v1/snapshots/:name', summary: 'Inspect a snapshot.', params: S.NameParams, reply: S.Snapshot },
  deleteSnapshot: { method: 'DELETE', url: '/api/v1/snapshots/:name', summary: 'Delete a snapshot.', params: S.NameParams, status: 204 },
  restoreSnapshot: {
    method: 'POST',
    url: '/api/v1/snapshots/:name/restore',
    summary: "Resume the snapshot's sandbox, or branch a new one with {name} (NDJSON progress, last line the sandbox).",
    params: S.NameParams,
    body: S.RestoreSnapshot,
    stream: 'ndjson',
  },
  moveSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/:name/move',
    summary:
      'Move a sandbox to another host: checkpoint, checksummed resumable transfer, restore, check, then remove the source; any failure leaves it running on the source (NDJSON progress, last line the result).',
    params: S.NameParams,
    body: S.MoveSandbox,
    stream: 'ndjson',
  },
  importSandbox: {
    method: 'POST',
    url: '/api/v1/sandboxes/import',
    summary: "Take over a sandbox whose checkpoint was copied into this daemon's incoming/ directory, and restore it (admin; the control plane calls it on agents).",
    body: S.ImportSandbox,
    reply: S.Sandbox,
    status: 201,
    auth: 'admin',
    timeoutMs: LONG_MS,
  },
} as const satisfies Record<string, RouteDef>;
