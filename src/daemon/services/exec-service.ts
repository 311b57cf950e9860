import type { ExecRequestT, ExecResultT, ExecStartT } from '../../api/index.js';
import { BothubError, type Actor } from '../../core/index.js';
import type { ExecSession, SandboxDefinition, SandboxRuntime } from '../../runtime/index.js';
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
  let lifted = false;
  session.signal(9);
  const timer = setInterval(() => {
    session.signal(9);
    if (++tries === 10 && def.cpus !== null) {
      try {
        runtime.cgroup(def.id).setCpuLimit(null);
        lifted = true;
      } catch {
        // the sandbox is gone, and its processes with it
      }
    }
  }, 100);
  return () => {
    clearInterval(timer);
    if (lifted) {
      lifted = false;
      try {
        runtime.cgroup(def.id).setCpuLimit(def.cpus);
      } catch {
        // the sandbox is gone
      }
    }
  };
}

/** Runs commands in sandboxes: buffered (one JSON reply) or streamed (WebSocket). */
export class ExecService {
  constructor(
    private readonly sandboxes: SandboxService,
    private readonly runtime: SandboxRuntime,
    private readonly thermal: ThermalService,
  ) {}

  /** Starts a command; the caller owns the session. */
  async start(name: string, req: ExecStartT, actor: Actor): Promise<{ session: ExecSession; oomBefore: number; sandboxId: string; def: SandboxDefinition }> {
    // A warm or cold sandbox wakes first; the caller sees only a slower answer.
    const { row, def } = await this.thermal.ready(name, 'exec', actor);
    const oomBefore = this.runtime.cgroup(def.id).oomKills();
    // Secrets reach the command in its environment only, opened for this one exec.
    const env = { ...(await this.sandboxes.secretEnv(row)), ...req.env };
    try {
      const session = await this.runtime.exec(def, { argv: req.command, cwd: req.workdir ?? '/', env, tty: req.tty });
      this.sandboxes.execAttached(def.id, 1);
      session.done
        .finally(() => {
          this.sandboxes.execAttached(def.id, -1);
          this.thermal.touch(def.id);
        })
        .catch(() => undefined);
      return { session, oomBefore, sandboxId: def.id, def };
    } catch (e) {
      // init not answering usually means the sandbox died under us: let reconcile say so.
      await this.sandboxes.reconcile(false);
      const now = await this.sandboxes.get(name, actor);
      if (now.status !== 'running')
        throw new BothubError('INVALID_STATE', `sandbox "${name}" stopped unexpectedly (${now.statusReason ?? now.status}); start it with \`bothub start ${name}\``);
      throw e;
    }
  }

  /** Any OOM kill in the sandbox while the command ran (a shell may have wrapped the victim). */
  async oomKilledSince(sandboxId: string, before: number): Promise<boolean> {
    return this.runtime.cgroup(sandboxId).oomKills() > before;
  }

  async run(name: string, req: ExecRequestT, actor: Actor): Promise<ExecResultT> {
    const started = performance.now();
    const { session, oomBefore, sandboxId, def } = await this.start(name, req, actor);
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
      const killed = exit.exitCode < 0;
      return {
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
