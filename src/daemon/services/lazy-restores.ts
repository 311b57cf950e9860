import type { Logger } from 'pino';
import { BothubError } from '../../core/index.js';
import { containerId, type LazyTail, type SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { SandboxRow } from '../db/tables.js';
import type { EventLog } from './event-log.js';
import type { SandboxService } from './sandbox-service.js';

export interface LazyRestoresDeps {
  /** BOTHUB_LAZY_RESTORE: restores run before their memory is read (see README "Lazy restores"). */
  enabled: boolean;
  db: Db;
  runtime: SandboxRuntime;
  sandboxes: SandboxService;
  events: EventLog;
  log: Logger;
}

/** What becomes of a sandbox whose memory could not all be brought in, and what is released when the transfer ends. */
export interface LazyFollow {
  /** A woken sandbox goes back to cold (its cold images are still there); a restored or branched one is stopped. */
  onFailure: 'cold' | 'stopped';
  /** What the sandbox was restored from, for the event and the status reason. */
  source: string;
  /** Runs when every page is in, before `always`. */
  onIn?: () => Promise<void>;
  /** Runs once the transfer has ended, either way: what pinned the images is released. */
  always?: () => Promise<void>;
}

/**
 * Lazy restores in flight. A sandbox restored with lazy pages runs while its
 * memory streams in from the snapshot's page images; those images stay pinned
 * (the snapshot undeletable, a cold sandbox's images kept) until the page
 * daemon has served every page and exited. If it dies first, pages the
 * sandbox has not touched would read as zeros: the sandbox is killed at once
 * (before its lock is taken: whoever holds the lock may be waiting on this very
 * transfer), then its record is put back to cold or stopped with the reason,
 * and a `lazy-restore-failed` event says what happened. Never half-alive.
 */
export class LazyRestores {
  private readonly streaming = new Map<string, Promise<void>>();

  constructor(private readonly deps: LazyRestoresDeps) {}

  get enabled(): boolean {
    return this.deps.enabled;
  }

  /** Takes over a restore's tail (none: an eager restore, whose `onIn` and `always` run at once). */
  follow(row: Pick<SandboxRow, 'id' | 'name'>, tail: LazyTail | undefined, how: LazyFollow): Promise<void> {
    const done = (tail?.pagesIn ?? Promise.resolve()).then(
      () => how.onIn?.(),
      async (e: unknown) => {
        await this.fail(row.id, how, e as Error);
        throw e;
      },
    );
    const settled = done
      .finally(() => how.always?.())
      .catch((err: unknown) => {
        this.deps.log.warn({ err, sandbox: row.name }, 'a lazy restore did not complete');
        throw err;
      })
      .finally(() => {
        if (this.streaming.get(row.id) === settled) this.streaming.delete(row.id);
      });
    settled.catch(() => undefined);
    if (tail) this.streaming.set(row.id, settled);
    return settled;
  }

  /**
   * Waits until the sandbox's memory is all in: a snapshot or a freeze must
   * not dump a process whose pages are still arriving. Throws if they never will.
   */
  async settled(id: string, name: string): Promise<void> {
    const pending = this.streaming.get(id);
    if (!pending) return;
    await pending.catch((e: unknown) => {
      throw new BothubError('INVALID_STATE', `sandbox "${name}" lost its memory while it was being restored (${(e as Error).message}); see \`GET /api/v1/events?sandbox=${name}\``);
    });
  }

  /** Every transfer under way, settled (a daemon closing waits; the page daemons would finish on their own anyway). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.streaming.values()]);
  }

  private async fail(id: string, how: LazyFollow, e: Error): Promise<void> {
    const { db, runtime, sandboxes, events, log } = this.deps;
    await runtime.runc.killNow(containerId(id)).catch((err: unknown) => log.error({ err, id }, 'could not kill a sandbox whose lazy restore failed'));
    await sandboxes.lock.run(id, async () => {
      const row = await db.selectFrom('sandboxes').selectAll().where('id', '=', id).executeTakeFirst();
      // Stopped or destroyed meanwhile: its processes were ended on purpose, and nothing is left to put right.
      if (!row || (row.status !== 'running' && row.status !== 'exited')) return;
      const def = sandboxes.definition(row);
      const reason =
        how.onFailure === 'cold'
          ? `its memory could not be read back from its cold images (${e.message}); it is cold again — the next request wakes it`
          : `its memory could not be read back from ${how.source} (${e.message}); it was stopped — restore the snapshot again, or start it afresh`;
      log.error({ sandbox: row.name, err: e }, 'a lazy restore lost its page source; the sandbox was killed');
      if (how.onFailure === 'cold') {
        await runtime.release({ ...def, address: null }); // the network and address stay, as for any cold sandbox
        await sandboxes.setStatus(id, 'running', reason, { thermal: 'cold' });
      } else {
        await runtime.release(def);
        await sandboxes.setStatus(id, 'stopped', reason, { thermal: 'hot' });
      }
      await events.record(row, 'lazy-restore-failed', reason);
    });
  }
}
