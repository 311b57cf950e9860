import type { ApiClient, SandboxT } from '../../api/index.js';
import type { Actor, GpuRequest } from '../../core/index.js';
import type { SandboxRow } from '../db/tables.js';

/**
 * What the services need of the fleet, as an interface: fleet/ builds on
 * services/ (a move is a snapshot, a transfer and a restore), so services/
 * never imports fleet/; fleet/remote-sandboxes.ts implements this and the
 * daemon's start-up hands it in.
 */
export interface FleetPort {
  /** The API client of a fleet host's agent. */
  agent(host: string): Promise<ApiClient>;
  /** The agent of the host a new sandbox on `image` goes to, with the image put there first where the images are in the store (as `actor` may use it). */
  agentFor(host: string, image: string, actor: Actor): Promise<ApiClient>;
  /** Its agent wakes a sandbox that went warm or cold there. */
  wake(row: SandboxRow): Promise<SandboxT>;
  destroy(row: SandboxRow): Promise<void>;
  /** Fleet hosts whose agent does not answer now. */
  unreachable(): Promise<Set<string>>;
  /** The fleet hosts besides this machine. */
  remoteHosts(): Promise<string[]>;
  /** Several daemons on one database: this machine runs no sandbox, each goes to a fleet host. */
  readonly controlPlaneOnly?: boolean;
  /** Where a new sandbox of `ownerId` goes when no host is asked for (the scheduler; a rented host only within their price limit). */
  place(req: { cpus: number | null; memoryMb: number | null; gpus?: GpuRequest; ownerId: string | null }): Promise<string>;
}
