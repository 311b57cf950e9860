import { allocateAddress, type Subnet } from '../../core/index.js';
import type { SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import { lockPlacement } from '../db/dialect.js';
import type { SandboxRow } from '../db/tables.js';
import { LOCAL } from './sandbox-records.js';

/** Sandbox addresses on this machine's bridge, and the peer rules between an owner's `peers` sandboxes. */
export class SandboxNetwork {
  private peerSync: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { db: Db; subnet: Subnet; runtime: SandboxRuntime }) {}

  /** A free address, read in the transaction that records it, so two sandboxes never get the same one. */
  async allocate(tx: Db): Promise<string> {
    const used = await tx.selectFrom('sandboxes').select('address').where('host', '=', LOCAL).where('address', 'is not', null).execute();
    return allocateAddress(this.deps.subnet, new Set(used.map((u) => u.address!)));
  }

  /** Takes a local address for a record coming to this machine (a move here). */
  async placeLocally(row: SandboxRow): Promise<SandboxRow> {
    return this.deps.db.transaction().execute(async (tx) => {
      await lockPlacement(tx);
      const address = row.network !== 'none' ? await this.allocate(tx) : null;
      await tx.updateTable('sandboxes').set({ host: LOCAL, address }).where('id', '=', row.id).execute();
      return tx.selectFrom('sandboxes').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    });
  }

  /**
   * Rewrites the host's peer rules from the records: each owner's `peers`
   * sandboxes reach each other. Serialized, and each run reads the latest
   * records, so the last write is always the current truth.
   */
  syncPeers(): Promise<void> {
    // A failed run must not stop later ones: each starts from the records afresh.
    this.peerSync = this.peerSync
      .catch(() => undefined)
      .then(async () => {
        const rows = await this.deps.db
          .selectFrom('sandboxes')
          .select(['owner_id', 'address'])
          .where('host', '=', LOCAL)
          .where('network', '=', 'peers')
          .where('address', 'is not', null)
          .execute();
        const groups = new Map<string, string[]>();
        for (const r of rows) groups.set(r.owner_id ?? '', [...(groups.get(r.owner_id ?? '') ?? []), r.address!]);
        await this.deps.runtime.writePeerRules([...groups.values()]);
      });
    return this.peerSync;
  }
}
