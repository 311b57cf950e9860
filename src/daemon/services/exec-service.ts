import type { Logger } from 'pino';
import type { ExecBackgroundT, ExecRecordT, ExecRequestT, ExecResultT, ExecStartT } from '../../api/index.js';
import { BothubError, type Actor } from '../../core/index.js';
import { GUEST, type ExecExit, type ExecSession, type SandboxDefinition, type SandboxRuntime } from '../../runtime/index.js';
import type { SandboxRow } from '../db/tables.js';
import { newExecId, toExecRecord, type ExecLedger } from './exec-ledger.js';
import { LiveTerminals } from './live-terminals.js';
import { createEmptyLog, OutputLog } from './output-log.js';
import type { SandboxService } from './sandbox-service.js';
import type { ThermalService } from './thermal-service.js';

/** Output kept per stream in a buffered exec reply; beyond it the reply says truncated. */
const REPLY_LIMIT = 8 * 1024 * 1024;

/** Collects a stream up to a limit, remembering whether it dropped bytes. */
class Capped {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  add(b: Buffer): void {
    const room = REPLY_LIMIT - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    if (b.length > room) this.truncated = true;
    const part = b.length > room ? b.subarray(0, room) : b;
    this.chunks.push(part);
    this.size += part.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Kills a command's process group again and again (processes forked while it
 * is being killed escape one kill). A group still there after a second is
 * starved by the sandbox's own CPU limit (a fork bomb: dying needs CPU too), so
 * the limit is lifted until the caller stops the killing. Returns that stop.
 */
export function killUntilGone(session: ExecSession, runtime: SandboxRuntime, def: SandboxDefinition): () => void {
  let tries = 0;
  /** Settles true once the limit is lifted; false when there was no cgroup (the sandbox is gone, and its processes with it). */
  let lifting: Promise<boolean> | undefined;
  session.signal(9);
  const timer = setInterval(() => {
    session.signal(9);
    if (++tries === 10 && def.cpus !== null)
      lifting = runtime
        .cgroup(def.id)
        .setCpuLimit(null)
        .then(
          () => true,
          () => false,
        );
  }, 100);
  return () => {
    clearInterval(timer);
    // Put back once lifted; the sandbox may be gone by then.
    void lifting?.then(async (lifted) => {
      if (lifted) await runtime.cgroup(def.id).setCpuLimit(def.cpus).catch(() => undefined);
    });
    lifting = undefined;
  };
}

export interface StartedExec {
  session: ExecSession;
  oomBefore: number;
  sandboxId: string;
  def: SandboxDefinition;
  execId: string;
  /** Settles once the ledger has the command's end. */
  recorded: Promise<void>;
}

/**
 * Runs commands in sandboxes: buffered (one JSON reply), streamed
 * (WebSocket), or in the background. Every one goes into the exec ledger.
 */
export class ExecService {
  /** Foreground commands running now, by sandbox and exec id (so they can be killed by id). */
  private readonly running = new Map<string, ExecSession>();
  readonly terminals = new LiveTerminals();
  /** Ledger writes of commands that just ended; a daemon stop waits for them. */
  private readonly recording = new Set<Promise<void>>();

  constructor(
    private readonly sandboxes: SandboxService,
    private readonly runtime: SandboxRuntime,
    private readonly thermal: ThermalService,
    readonly ledger: ExecLedger,
    private readonly log: Logger,
  ) {}

  /** Starts a foreground command; the caller owns the session. `known`: the sandbox's record as the request read it already. */
  async start(name: string, req: ExecStartT, actor: Actor, known?: SandboxRow): Promise<StartedExec> {
    // A warm or cold sandbox wakes first; the caller sees only a slower answer.
    const { row, def } = await this.thermal.ready(name, 'exec', actor, known);
    const oomBefore = await this.runtime.cgroup(def.id).oomKills();
    // Secrets reach the command in its environment only, opened for this one exec.
    const env = { ...(await this.sandboxes.secretEnv(row)), ...req.env };
    const cwd = req.workdir ?? '/';
    // The ledger row is written while the command starts (it is on the exec path); the log file when output comes.
    const rec = { id: newExecId() };
    const recorded = this.ledger.begin(def.id, rec.id, { command: req.command, cwd, actor: actor.name, tty: req.tty !== undefined, detached: false });
    // Awaited later (at the command's end); until then a failed insert must not count as unhandled.
    recorded.catch(() => undefined);
    const output = new OutputLog(this.runtime.paths(def.id).execLog(rec.id), (err) => this.log.warn({ err, sandbox: name }, "this command's output will not be kept"));
    let session: ExecSession;
    try {
      session = await this.runtime.exec(def, { argv: req.command, cwd, env, tty: req.tty });
    } catch (e) {
      await Promise.all([output.close(), recorded]);
      await this.ledger.finish(def.id, rec.id, { exitCode: null, signal: null, outputBytes: 0, lost: true });
      // init not answering usually means the sandbox died under us: let reconcile say so.
      await this.sandboxes.reconcile(false);
      const now = await this.sandboxes.get(name, actor);
      if (now.status !== 'running')
        throw new BothubError('INVALID_STATE', `sandbox "${name}" stopped unexpectedly (${now.statusReason ?? now.status}); start it again (\`POST /api/v1/sandboxes/${name}/start\`)`);
      throw e;
    }
    const key = `${def.id}/${rec.id}`;
    this.running.set(key, session);
    session.on('stdout', (b) => output.add(b));
    session.on('stderr', (b) => output.add(b));
    if (req.tty) this.terminals.add(def.id, rec.id, session);
    this.sandboxes.execAttached(def.id, 1);
    const ended = async (exit: ExecExit | undefined) => {
      this.running.delete(key);
      this.sandboxes.execAttached(def.id, -1);
      this.thermal.touch(def.id);
      // The row first (the reply waits for it), the file's flush after (a stop waits for that).
      const closed = output.close();
      this.recording.add(closed);
      void closed.finally(() => this.recording.delete(closed));
      await recorded;
      const killed = exit !== undefined && exit.exitCode < 0;
      const outputBytes = output.bytes;
      await this.ledger.finish(def.id, rec.id, { exitCode: exit && !killed ? exit.exitCode : null, signal: killed ? exit.signal : null, outputBytes, lost: !exit });
    };
    const recordedEnd = session.done
      .then(ended, () => ended(undefined))
      .catch((err) => this.log.error({ err }, 'recording the end of a command failed'))
      .finally(() => this.recording.delete(recordedEnd));
    this.recording.add(recordedEnd);
    return { session, oomBefore, sandboxId: def.id, def, execId: rec.id, recorded: recordedEnd };
  }

  /** Starts a command that runs on with no client (`exec -d`); init writes its output and exit status. */
  async background(name: string, req: ExecBackgroundT, actor: Actor): Promise<ExecRecordT> {
    const { row, def } = await this.thermal.ready(name, 'exec', actor);
    const env = { ...(await this.sandboxes.secretEnv(row)), ...req.env };
    const cwd = req.workdir ?? '/';
    const rec = await this.ledger.begin(def.id, newExecId(), { command: req.command, cwd, actor: actor.name, tty: false, detached: true });
    const finishLost = () => this.ledger.finish(def.id, rec.id, { exitCode: null, signal: null, outputBytes: 0, lost: true });
    try {
      // Made here, so init's open of the log never fails for a missing directory.
      await createEmptyLog(this.runtime.paths(def.id).execLog(rec.id));
      const session = await this.runtime.exec(def, { argv: req.command, cwd, env, detach: { logPath: GUEST.execLog(rec.id), exitPath: GUEST.execExit(rec.id) } });
      const pid = await Promise.race([session.started, session.done.then(() => null)]);
      if (pid === null) {
        // It never ran (no such program): init said why on stderr, and the exit code.
        const exit = await session.done;
        await this.ledger.finish(def.id, rec.id, { exitCode: exit.exitCode, signal: null, outputBytes: 0 });
      } else {
        await this.ledger.started(def.id, rec.id, pid);
      }
    } catch (e) {
      await finishLost();
      throw e;
    }
    this.thermal.touch(def.id);
    return toExecRecord(await this.ledger.row(def.id, name, rec.id));
  }

  /** One command of the ledger, its status brought up to date. */
  async record(name: string, id: string, actor: Actor): Promise<ExecRecordT> {
    const row = await this.sandboxes.row(name, actor);
    await this.refresh(row);
    return toExecRecord(await this.ledger.row(row.id, name, id));
  }

  async list(name: string, actor: Actor): Promise<ExecRecordT[]> {
    const row = await this.sandboxes.row(name, actor);
    await this.refresh(row);
    return (await this.ledger.rows(row.id)).map(toExecRecord);
  }

  private async refresh(row: SandboxRow): Promise<void> {
    // A cold sandbox's commands are on disk, not gone: only a stop ends them.
    await this.ledger.refresh(row.id, this.runtime.paths(row.id), row.status === 'running');
  }

  async kill(name: string, id: string, signal: number, actor: Actor): Promise<ExecRecordT> {
    const rec = await this.record(name, id, actor);
    if (rec.status !== 'running') throw new BothubError('INVALID_STATE', `command ${id} is not running (${rec.status}); see \`GET /api/v1/sandboxes/${name}/execs\``);
    const { row, def } = await this.thermal.ready(name, 'exec', actor);
    const session = this.running.get(`${row.id}/${id}`);
    if (session) {
      session.signal(signal);
    } else {
      const pid = (await this.ledger.row(row.id, name, id)).pid;
      if (!pid) throw new BothubError('INVALID_STATE', `command ${id} has no process to signal; see \`GET /api/v1/sandboxes/${name}/execs\``);
      // A detached command leads its own process group; the sandbox's own kill reaches all of it.
      const k = await this.runtime.exec(def, { argv: ['sh', '-c', 'kill -"$0" -"$1"', String(signal), String(pid)], cwd: '/', env: {} });
      k.closeStdin();
      await k.done;
    }
    return rec;
  }

  /** Waits for the ledger to have the end of every command that has ended (a daemon stop). */
  async drain(): Promise<void> {
    await Promise.all([...this.recording]);
  }

  /** Any OOM kill in the sandbox while the command ran (a shell may have wrapped the victim). */
  async oomKilledSince(sandboxId: string, before: number): Promise<boolean> {
    return (await this.runtime.cgroup(sandboxId).oomKills()) > before;
  }

  /** A foreground command with a buffered reply. */
  async run(name: string, req: ExecRequestT, actor: Actor, known?: SandboxRow): Promise<ExecResultT> {
    const started = performance.now();
    const { session, oomBefore, sandboxId, def, recorded, execId } = await this.start(name, req, actor, known);
    const stdout = new Capped();
    const stderr = new Capped();
    session.on('stdout', (b) => stdout.add(b));
    session.on('stderr', (b) => stderr.add(b));
    if (req.stdin) session.write(Buffer.from(req.stdin));
    session.closeStdin();
    let timedOut = false;
    let stopKilling = () => undefined as void;
    const timer = req.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          stopKilling = killUntilGone(session, this.runtime, def);
        }, req.timeoutMs)
      : undefined;
    try {
      const exit = await session.done;
      // The reply comes after the ledger has it: `history` right after an exec shows its end.
      await recorded;
      const killed = exit.exitCode < 0;
      return {
        id: execId,
        exitCode: killed ? 128 + exit.signal : exit.exitCode,
        signal: killed ? exit.signal : null,
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncated: stdout.truncated || stderr.truncated,
        oomKilled: await this.oomKilledSince(sandboxId, oomBefore),
        timedOut,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      };
    } finally {
      clearTimeout(timer);
      stopKilling();
    }
  }
}
