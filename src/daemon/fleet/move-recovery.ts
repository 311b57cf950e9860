import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SandboxT } from '../../api/index.js';
import { BothubError } from '../../core/index.js';
import type { SandboxRuntime } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { MoveRow, SandboxRow } from '../db/tables.js';
import type { ExecLedger } from '../services/exec-ledger.js';
import type { HostEndpoint, HostService } from './host-service.js';
import { LOCAL, type SandboxService } from '../services/sandbox-service.js';
import type { MoveJournal, MovePhase } from './move-journal.js';
import type { MoveService } from './move-service.js';

export interface MoveRecoveryDeps {
  db: Db;
  journal: MoveJournal;
  moves: MoveService;
  sandboxes: SandboxService;
  hosts: HostService;
  runtime: SandboxRuntime;
  ledger: ExecLedger;
  /** Several daemons: whether another one is acting on this sandbox now. */
  busyElsewhere?: (sandboxId: string) => Promise<boolean>;
  log: Logger;
}

/** How long an import the target's agent is still running (its request outlived the daemon that sent it) is waited for. */
const IMPORT_SETTLE_MS = 120_000;

/**
 * Settles the moves a crash cut short, so that exactly one copy of each
 * sandbox remains and its record says where:
 * - cut short before the import (freezing, transferring): undone, the copied
 *   state removed from the target; the sandbox is where it was (cold there
 *   if its checkpoint was finished: the next request wakes it);
 * - cut short during the import or after it (importing, committing): if the
 *   copy on the target runs, the move is finished (the source's copy goes);
 *   if not, undone (whatever the import left there goes).
 * A move whose target (or source) cannot be reached now stays journalled and
 * its sandbox `moving`, so nothing wakes a second copy; the next round tries again.
 */
export async function recoverMoves(deps: MoveRecoveryDeps): Promise<void> {
  for (const move of await deps.journal.list()) {
    // In flight here, or (several daemons) in another daemon, which holds the sandbox's lease while it moves it.
    if (deps.moves.inFlight.has(move.id) || (await deps.busyElsewhere?.(move.sandbox_id))) continue;
    await settle(deps, move).catch((err: Error) =>
      deps.log.error({ err, move: move.id, from: move.from_host, to: move.to_host }, 'a move cut short could not be settled yet; its sandbox stays moving until it can'),
    );
  }
}

async function settle(deps: MoveRecoveryDeps, move: MoveRow): Promise<void> {
  const { journal, log } = deps;
  const row = await deps.db.selectFrom('sandboxes').selectAll().where('id', '=', move.sandbox_id).executeTakeFirst();
  if (!row) return journal.end(move.id); // destroyed since (by hand, offline): nothing to settle
  const [src, dst] = await Promise.all([deps.hosts.endpoint(move.from_host), deps.hosts.endpoint(move.to_host)]);
  const atSource: SandboxRow = { ...row, host: move.from_host, address: move.from_address };
  const phase = move.phase as MovePhase;
  const importBegan = phase === 'importing' || phase === 'committing';
  const there = importBegan ? await copyOnTarget(deps, move, row, dst) : undefined;
  if (there) {
    log.warn({ sandbox: row.name, from: move.from_host, to: move.to_host, phase }, 'finishing a move cut short after the target took the sandbox over');
    await deps.moves.commit(atSource, src, move.to_host, there);
  } else {
    log.warn({ sandbox: row.name, from: move.from_host, to: move.to_host, phase }, 'undoing a move cut short before the target took the sandbox over');
    await undo(deps, move, row, atSource, dst, importBegan);
  }
  await journal.end(move.id);
}

/** The copy on the target if it runs there; undefined if it does not (an import still under way there is waited for). */
async function copyOnTarget(deps: MoveRecoveryDeps, move: MoveRow, row: SandboxRow, dst: HostEndpoint): Promise<SandboxT | undefined> {
  if (!dst.agent) {
    // Coming home: the import ran in the daemon that died; the record was placed here when it began.
    if (row.host !== LOCAL) return undefined;
    const state = await deps.runtime.state(row);
    if (state?.status !== 'running' && state?.status !== 'paused') return undefined;
    return deps.sandboxes.present({ ...row, thermal: 'hot', started_at: row.started_at ?? new Date().toISOString() });
  }
  const agent = dst.agent;
  const look = async () => {
    for (const deadline = Date.now() + IMPORT_SETTLE_MS; ; ) {
      const s = await agent.call('getSandbox', { params: { name: row.name } }).catch((e: BothubError) => (e.code === 'NOT_FOUND' ? undefined : Promise.reject(e)));
      if (s?.status !== 'creating' || Date.now() > deadline) return s;
      await sleep(500);
    }
  };
  let s = await look();
  if (s?.status === 'running') return s;
  // Absent or failed: its state goes first, so an import that had not begun yet cannot begin now; then one last look.
  await dst.exec.run('rm', ['-rf', '--', move.target_dir]);
  s = await look();
  return s?.status === 'running' ? s : undefined;
}

/** The target's copy (if any) and the copied state go; the record points at the source again. */
async function undo(deps: MoveRecoveryDeps, move: MoveRow, row: SandboxRow, atSource: SandboxRow, dst: HostEndpoint, importBegan: boolean): Promise<void> {
  const { sandboxes, runtime, ledger, log } = deps;
  const quietly = (what: string, p: Promise<unknown>) => p.catch((err) => log.warn({ err, sandbox: row.name, what }, 'cleanup after a move cut short'));
  if (importBegan && dst.agent) {
    await dst.agent.call('destroySandbox', { params: { name: row.name } }).catch((e: BothubError) => (e.code === 'NOT_FOUND' ? undefined : Promise.reject(e)));
  } else if (importBegan && move.to_host === LOCAL) {
    // Coming home: the copy here is the target's. Before the import began, the copy here (if any) is the source itself and stays.
    await quietly('remove the copy here', runtime.destroy(sandboxes.definition(row)));
    await ledger.forget(row.id);
  }
  await quietly('remove the transferred state', dst.exec.run('rm', ['-rf', '--', move.target_dir]));
  // Its thermal state on the source is the start-up recovery's (and the agent's) to tell: a finished checkpoint is cold, a live container hot.
  await sandboxes.setStatus(row.id, 'running', 'a move to another host was cut short; it stayed where it was', { host: atSource.host, address: atSource.address });
}
