import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { ExecRecordT } from '../../api/index.js';
import { notFound } from '../../core/index.js';
import type { SandboxPaths } from '../../runtime/index.js';
import type { Db } from '../db/database.js';
import type { ExecRow } from '../db/tables.js';

export interface ExecStartInfo {
  command: readonly string[];
  cwd: string;
  actor: string;
  tty: boolean;
  detached: boolean;
}

/**
 * Short, like a container id: unique per sandbox is all it needs (the key is sandbox and id).
 * The first 8 hex digits of a v4 UUID are random; randomUUID draws them from a pool it
 * refills every 128 calls, where randomBytes costs a getrandom call each time.
 */
export const newExecId = () => randomUUID().slice(0, 8);

export function toExecRecord(row: ExecRow): ExecRecordT {
  return {
    id: row.id,
    command: JSON.parse(row.command_json) as string[],
    workdir: row.cwd,
    actor: row.actor,
    tty: row.tty === 1,
    detached: row.detached === 1,
    status: row.status as ExecRecordT['status'],
    startedAt: row.started_at,
    endedAt: row.ended_at,
    exitCode: row.exit_code,
    signal: row.signal,
    outputBytes: row.output_bytes,
    pid: row.pid,
  };
}

/** A ledger record as another daemon gave it (a sandbox moved here). */
export function fromExecRecord(sandboxId: string, r: ExecRecordT): ExecRow {
  return {
    sandbox_id: sandboxId,
    id: r.id,
    command_json: JSON.stringify(r.command),
    cwd: r.workdir,
    actor: r.actor,
    tty: r.tty ? 1 : 0,
    detached: r.detached ? 1 : 0,
    status: r.status,
    started_at: r.startedAt,
    ended_at: r.endedAt,
    exit_code: r.exitCode,
    signal: r.signal,
    output_bytes: r.outputBytes,
    pid: r.pid ?? null,
  };
}

/** A file the sandbox can write to: read without following its links. */
async function sizeNoFollow(path: string): Promise<number> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return 0;
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/**
 * The exec ledger: every command run in a sandbox, foreground or background,
 * with who ran it, when, how it ended and how much output it left (its log,
 * bytes [0, outputBytes), is `execs/<id>.log` in the sandbox's guest directory).
 * It lives in the database and travels in snapshot manifests.
 */
export class ExecLedger {
  constructor(private readonly db: Db) {}

  async begin(sandboxId: string, id: string, info: ExecStartInfo): Promise<ExecRow> {
    const row: ExecRow = {
      sandbox_id: sandboxId,
      id,
      command_json: JSON.stringify(info.command),
      cwd: info.cwd,
      actor: info.actor,
      tty: info.tty ? 1 : 0,
      detached: info.detached ? 1 : 0,
      status: 'running',
      started_at: new Date().toISOString(),
      ended_at: null,
      exit_code: null,
      signal: null,
      output_bytes: null,
      pid: null,
    };
    await this.db.insertInto('execs').values(row).execute();
    return row;
  }

  async finish(sandboxId: string, id: string, end: { exitCode: number | null; signal: number | null; outputBytes: number; lost?: boolean }): Promise<void> {
    const status = end.lost ? 'lost' : end.signal ? 'killed' : 'exited';
    await this.db
      .updateTable('execs')
      .set({ status, ended_at: new Date().toISOString(), exit_code: end.exitCode, signal: end.signal, output_bytes: end.outputBytes })
      .where('sandbox_id', '=', sandboxId)
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
  }

  async rows(sandboxId: string): Promise<ExecRow[]> {
    return this.db.selectFrom('execs').selectAll().where('sandbox_id', '=', sandboxId).orderBy('started_at').orderBy('id').execute();
  }

  async row(sandboxId: string, sandboxName: string, id: string): Promise<ExecRow> {
    const row = await this.db.selectFrom('execs').selectAll().where('sandbox_id', '=', sandboxId).where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('command', id, `see \`GET /api/v1/sandboxes/${sandboxName}/execs\``);
    return row;
  }

  /**
   * Brings detached commands up to date: init writes "<code> <signal>" to
   * their exit file when they end. `running` says whether the sandbox's
   * processes exist at all (a stopped sandbox took its commands with it).
   */
  async refresh(sandboxId: string, paths: SandboxPaths, running: boolean): Promise<void> {
    const open = await this.db.selectFrom('execs').selectAll().where('sandbox_id', '=', sandboxId).where('status', '=', 'running').where('detached', '=', 1).execute();
    for (const row of open) {
      const exit = await readFile(paths.execExit(row.id), 'utf8').catch(() => undefined);
      const outputBytes = await sizeNoFollow(paths.execLog(row.id));
      if (exit !== undefined) {
        const [code, signal] = exit.trim().split(' ').map(Number);
        await this.finish(sandboxId, row.id, { exitCode: signal ? null : (code ?? null), signal: signal || null, outputBytes });
      } else if (!running) {
        await this.finish(sandboxId, row.id, { exitCode: null, signal: null, outputBytes, lost: true });
      }
    }
  }

  /** Foreground commands cut off by a daemon stop: nobody will see their end. */
  async loseForeground(): Promise<void> {
    await this.db.updateTable('execs').set({ status: 'lost', ended_at: new Date().toISOString() }).where('status', '=', 'running').where('detached', '=', 0).execute();
  }

  /** A branch starts with its parent's history up to the snapshot. */
  async copyInto(sandboxId: string, rows: readonly ExecRow[]): Promise<void> {
    // In slices: SQLite caps the variables of one statement.
    for (let i = 0; i < rows.length; i += 500)
      await this.db
        .insertInto('execs')
        .values(rows.slice(i, i + 500).map((r) => ({ ...r, sandbox_id: sandboxId })))
        .execute();
  }

  /**
   * A sandbox restored from its snapshot: commands that were running then are
   * running again (their processes came back), whatever they did since.
   */
  async rewind(sandboxId: string, atSnapshot: readonly ExecRow[]): Promise<void> {
    for (const r of atSnapshot.filter((x) => x.status === 'running')) {
      await this.db
        .updateTable('execs')
        .set({ status: 'running', ended_at: null, exit_code: null, signal: null, output_bytes: null })
        .where('sandbox_id', '=', sandboxId)
        .where('id', '=', r.id)
        .execute();
    }
  }

  async started(sandboxId: string, id: string, pid: number): Promise<void> {
    await this.db.updateTable('execs').set({ pid }).where('sandbox_id', '=', sandboxId).where('id', '=', id).execute();
  }

  async forget(sandboxId: string): Promise<void> {
    await this.db.deleteFrom('execs').where('sandbox_id', '=', sandboxId).execute();
  }
}
