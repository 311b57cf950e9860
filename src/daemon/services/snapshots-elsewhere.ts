import type { SandboxT, SnapshotT } from '../../api/index.js';
import type { Actor } from '../../core/index.js';
import type { LongOperation } from '../../runtime/index.js';
import type { SandboxRow, SnapshotRow } from '../db/tables.js';

/**
 * Snapshots a fleet host's agent took and keeps in its own store (several
 * daemons as control planes): only their record is shared. fleet/host-snapshots.ts
 * implements this; services/ never imports fleet/, so the daemon's start-up hands it in.
 */
export interface SnapshotsElsewhere {
  /** Taken by the sandbox's host's agent, then recorded here (the caller holds the sandbox's lock and checked the name). */
  create(sandbox: SandboxRow, req: { name: string; leaveRunning?: boolean }, op: LongOperation): Promise<SnapshotT>;
  /** Records still 'saving' brought up to date from their agents: ready, or gone (never made durable there). */
  settle(rows: SnapshotRow[]): Promise<SnapshotRow[]>;
  /** Why each of these snapshots cannot be restored now (its host removed, or not answering); undefined when it can. */
  reasons(rows: SnapshotRow[]): Promise<(row: SnapshotRow) => string | undefined>;
  get(row: SnapshotRow): Promise<SnapshotT>;
  /** On its host, then the record. `force`: the record goes even when the host cannot be told (a user removed with --force). */
  delete(row: SnapshotRow, force?: boolean): Promise<void>;
  restore(row: SnapshotRow, req: { name?: string; host?: string }, actor: Actor, op: LongOperation): Promise<SandboxT>;
}
