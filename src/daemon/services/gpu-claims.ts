import { allocateGpus, type GpuInfo, type GpuRequest } from '../../core/index.js';
import type { Db } from '../db/database.js';
import { lockPlacement } from '../db/dialect.js';
import type { SandboxRow } from '../db/tables.js';
import { enforceQuota, holdsGpus } from './quota.js';
import { LOCAL } from './sandbox-records.js';

/** How a new record gets its GPUs: what was asked for, and the ones to take first when free. */
export interface GpuClaim {
  request: GpuRequest;
  prefer?: readonly string[];
}

/**
 * What sandboxes on their way to running (starting, waking, restoring, coming
 * here) claimed: a place and memory against their owner's quota, and this
 * machine's GPUs. A claim counts as held, though no record says so yet.
 */
export class GpuClaims {
  /** The records as they will be, by sandbox id. */
  readonly pending = new Map<string, SandboxRow>();

  constructor(private readonly deps: { db: Db; gpus: () => Promise<GpuInfo | null> }) {}

  /** This machine's GPUs now, when the record takes some here; null otherwise. */
  probeFor(row: SandboxRow, wanted: boolean): Promise<GpuInfo | null> {
    return wanted && row.host === LOCAL ? this.deps.gpus() : Promise.resolve(null);
  }

  /** GPUs of this machine that other sandboxes hold or are claiming. */
  private async held(tx: Db, exceptId: string): Promise<Set<string>> {
    const rows = await tx.selectFrom('sandboxes').select(['id', 'status', 'thermal', 'gpu_uuids_json']).where('host', '=', LOCAL).where('gpus', '>', 0).execute();
    const held = new Set(rows.filter((r) => r.id !== exceptId && holdsGpus(r)).flatMap((r) => JSON.parse(r.gpu_uuids_json) as string[]));
    for (const [id, claim] of this.pending) if (id !== exceptId && claim.host === LOCAL) for (const u of JSON.parse(claim.gpu_uuids_json) as string[]) held.add(u);
    return held;
  }

  /** Picks GPUs in the transaction that records them, so two sandboxes never get the same one. */
  async choose(tx: Db, id: string, claim: GpuClaim, gpus: GpuInfo | null): Promise<string[]> {
    const devices = gpus?.devices ?? [];
    // State checkpointed on one model restores only onto that model.
    const model = devices.find((d) => claim.prefer?.includes(d.uuid))?.name;
    return allocateGpus(claim.request, devices, { held: await this.held(tx, id), prefer: claim.prefer, model });
  }

  /**
   * Runs `fn` (a start, a wake, a restore, a move here) with what the sandbox
   * takes to run claimed in one transaction: its place and memory against its
   * owner's quota, and its GPUs again (the ones it had when free, else as many
   * others of that model: the CUDA restore remaps them). The claim counts as
   * held until `fn` is done, by when its record says so itself (or it failed).
   */
  async claim<T>(row: SandboxRow, fn: (row: SandboxRow) => Promise<T>): Promise<T> {
    const local = row.gpus > 0 && row.host === LOCAL;
    const gpus = await this.probeFor(row, row.gpus > 0);
    const claimed = await this.deps.db.transaction().execute(async (tx) => {
      await lockPlacement(tx);
      // The owner's limits first: over them, which GPUs happen to be free does not matter.
      const next = await enforceQuota(tx, { ...row, status: 'running', thermal: 'hot' }, this.pending);
      if (local) {
        const prefer = JSON.parse(row.gpu_uuids_json) as string[];
        next.gpu_uuids_json = JSON.stringify(await this.choose(tx, row.id, { request: { kind: 'count', count: row.gpus }, prefer }, gpus));
      }
      this.pending.set(row.id, next);
      await tx.updateTable('sandboxes').set({ gpu_uuids_json: next.gpu_uuids_json, memory_mb: next.memory_mb }).where('id', '=', row.id).execute();
      return { ...row, gpu_uuids_json: next.gpu_uuids_json, memory_mb: next.memory_mb };
    });
    try {
      return await fn(claimed);
    } finally {
      this.pending.delete(row.id);
    }
  }
}
