import type { Db } from '../db/database.js';
import type { MoveRow } from '../db/tables.js';

/**
 * The steps of a move, in order. Each is written before it starts, so a
 * crash leaves the step it was in:
 * - freezing: the sandbox is being checkpointed on its source;
 * - transferring: its state is being copied to the target;
 * - importing: the target is taking it over (from here a copy may run there);
 * - committing: the copy on the target runs and answered; the source's goes.
 */
export const MOVE_PHASES = ['freezing', 'transferring', 'importing', 'committing'] as const;
export type MovePhase = (typeof MOVE_PHASES)[number];

export type MoveStart = Pick<MoveRow, 'id' | 'sandbox_id' | 'from_host' | 'from_address' | 'to_host' | 'target_dir'>;

/**
 * The moves in flight, one row each, in the control plane's database: what
 * the start-up recovery (move-recovery.ts) reads to finish or undo a move a
 * crash cut short, so that exactly one copy of the sandbox remains.
 */
export class MoveJournal {
  constructor(private readonly db: Db) {}

  async begin(move: MoveStart): Promise<void> {
    const now = new Date().toISOString();
    await this.db
      .insertInto('moves')
      .values({ ...move, phase: 'freezing' satisfies MovePhase, started_at: now, updated_at: now })
      .execute();
  }

  /** Written before the step it names starts. */
  async advance(id: string, phase: MovePhase): Promise<void> {
    await this.db.updateTable('moves').set({ phase, updated_at: new Date().toISOString() }).where('id', '=', id).execute();
  }

  /** The move finished, or was undone: nothing is left to settle. */
  async end(id: string): Promise<void> {
    await this.db.deleteFrom('moves').where('id', '=', id).execute();
  }

  async list(): Promise<MoveRow[]> {
    return this.db.selectFrom('moves').selectAll().orderBy('started_at').execute();
  }
}
