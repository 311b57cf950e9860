import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { encodeRun, SPAWNER_FRAME_MAX, SpawnerFrame, SpawnerFrameReader, spawnerFrame, type SpawnRequest } from './spawner-protocol.js';

/** What happens to one command started through the spawner; exactly one of failed, exit or lost ends it. */
export interface SpawnEvents {
  started(pid: number): void;
  /** It never ran: posix_spawn's errno (ENOENT: no such program, or no such cwd). */
  failed(errno: number): void;
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  /** It exited and closed its stdout and stderr: every chunk came before this. */
  exit(code: number | null, signal: NodeJS.Signals | null): void;
  /** The spawner died or was given up; `started` says whether the command may be running. */
  lost(started: boolean): void;
}

export interface SpawnedCommand {
  kill(signal: NodeJS.Signals): void;
}

export interface CommandSpawnerOptions {
  /** A run not acknowledged this long, with not a frame heard meanwhile, means a wedged spawner: it is killed (its commands are lost) and restarted. */
  startTimeoutMs?: number;
  /** How long commands go to child_process after the spawner could not start or kept dying. */
  backoffMs?: number;
}

interface Job {
  events: SpawnEvents;
  started: boolean;
  watchdog?: NodeJS.Timeout;
}

/** The spawner keeps its process (the daemon) alive only while commands run, as their own children would. */
function hold(proc: ChildProcess, running: boolean): void {
  for (const handle of [proc, proc.stdout as Socket]) {
    if (running) handle.ref();
    else handle.unref();
  }
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
/** Deaths in a row without a command finishing before the spawner is left alone for backoffMs. */
const MAX_DEATHS = 3;

/**
 * The daemon's one bothub-spawner process (native/spawner), which starts its
 * commands with posix_spawn: a fork by the daemon itself stops its event loop
 * while the kernel copies its page tables (~12 ms at 150 MB), on every
 * command. Started on first use; while it cannot run (binary missing, dying
 * again and again, an incompatible build) run() returns undefined and the
 * caller uses child_process. Never a way to hang: when it dies every command
 * in flight hears `lost` at once.
 */
export class CommandSpawner {
  private proc?: ChildProcess;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private offUntil = 0;
  private deaths = 0;
  private readonly startTimeoutMs: number;
  /** When the spawner last sent a frame (performance.now()). */
  private heardAt = 0;
  private readonly backoffMs: number;

  constructor(
    readonly binary: string,
    options: CommandSpawnerOptions = {},
  ) {
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.backoffMs = options.backoffMs ?? 10_000;
  }

  /** The spawner's pid while it runs (tests kill it). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts a command, or returns undefined when the spawner cannot take it: the caller then spawns it itself. */
  run(request: SpawnRequest, input: Buffer | undefined, events: SpawnEvents): SpawnedCommand | undefined {
    const id = this.nextId;
    const frame = encodeRun(id, request);
    const proc = frame && this.ensureStarted();
    if (!frame || !proc) return undefined;
    this.nextId = id >= 0xffff_ffff ? 1 : id + 1;
    const job: Job = { events, started: false };
    this.jobs.set(id, job);
    this.watch(proc, job, this.startTimeoutMs);
    if (this.jobs.size === 1) hold(proc, true);
    proc.stdin!.write(frame);
    if (input) {
      for (let at = 0; at < input.length; at += SPAWNER_FRAME_MAX) proc.stdin!.write(spawnerFrame(SpawnerFrame.Stdin, id, input.subarray(at, at + SPAWNER_FRAME_MAX)));
      proc.stdin!.write(spawnerFrame(SpawnerFrame.StdinEof, id));
    }
    return {
      kill: (signal) => {
        if (this.jobs.get(id) !== job || this.proc !== proc) return;
        const payload = Buffer.alloc(4);
        payload.writeInt32BE(constants.signals[signal]);
        proc.stdin!.write(spawnerFrame(SpawnerFrame.Kill, id, payload));
      },
    };
  }

  /** Ends the spawner (its commands keep running, and are reported lost). */
  close(): void {
    if (this.proc) this.giveUp(this.proc);
  }

  private ensureStarted(): ChildProcess | undefined {
    if (this.proc) return this.proc;
    if (Date.now() < this.offUntil) return undefined;
    if (!existsSync(this.binary)) {
      this.offUntil = Date.now() + this.backoffMs;
      return undefined;
    }
    const proc = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = proc;
    hold(proc, false);
    (proc.stdin as Socket).unref();
    proc.stdin.on('error', () => this.giveUp(proc));
    const reader = new SpawnerFrameReader();
    proc.stdout.on('data', (chunk: Buffer) => {
      if (this.proc !== proc) return; // given up: what it still sent concerns nobody
      try {
        reader.push(chunk, (type, id, payload) => this.onFrame(type, id, payload));
      } catch {
        this.giveUp(proc); // a malformed frame
      }
    });
    // Its stdout closes only when it ends: that is its death, without waiting for the exit status too.
    proc.stdout.on('close', () => this.died(proc));
    proc.on('error', () => this.died(proc));
    proc.on('close', () => this.died(proc));
    return proc;
  }

  /** Gives the spawner up unless it is heard from within the timeout: a busy one on a loaded machine is slow, not wedged. */
  private watch(proc: ChildProcess, job: Job, ms: number): void {
    job.watchdog = setTimeout(() => {
      if (this.proc !== proc || job.started) return;
      const quietFor = performance.now() - this.heardAt;
      if (quietFor >= this.startTimeoutMs) this.giveUp(proc);
      else this.watch(proc, job, this.startTimeoutMs - quietFor);
    }, ms).unref();
  }

  private onFrame(type: number, id: number, payload: Buffer): void {
    this.heardAt = performance.now();
    const job = this.jobs.get(id);
    if (!job) return;
    switch (type) {
      case SpawnerFrame.Started:
        job.started = true;
        clearTimeout(job.watchdog);
        job.events.started(payload.readInt32BE(0));
        break;
      case SpawnerFrame.Stdout:
        job.events.stdout(payload);
        break;
      case SpawnerFrame.Stderr:
        job.events.stderr(payload);
        break;
      case SpawnerFrame.Failed: {
        const errno = payload.readInt32BE(0);
        this.end(id, job);
        // A request this build cannot read: an older binary left from before an update. child_process from now on.
        if (errno === constants.errno.EPROTO) {
          this.offUntil = Infinity;
          this.close();
          job.events.lost(false);
        } else job.events.failed(errno);
        break;
      }
      case SpawnerFrame.Exit: {
        const code = payload.readInt32BE(0);
        const signal = payload.readInt32BE(4);
        this.end(id, job);
        this.deaths = 0;
        job.events.exit(code < 0 ? null : code, signal ? (SIGNAL_NAMES.get(signal) ?? 'SIGKILL') : null);
        break;
      }
    }
  }

  private end(id: number, job: Job): void {
    clearTimeout(job.watchdog);
    this.jobs.delete(id);
    if (this.jobs.size === 0 && this.proc) hold(this.proc, false);
  }

  /** Wedged, speaking nonsense, or no longer wanted. */
  private giveUp(proc: ChildProcess): void {
    proc.kill('SIGKILL');
    this.died(proc);
  }

  /** Its commands in flight are lost, now; the next run starts a new spawner (unless it keeps dying). */
  private died(proc: ChildProcess): void {
    if (this.proc !== proc) return;
    this.proc = undefined;
    hold(proc, false);
    if (++this.deaths >= MAX_DEATHS) this.offUntil = Math.max(this.offUntil, Date.now() + this.backoffMs);
    const lost = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of lost) {
      clearTimeout(job.watchdog);
      job.events.lost(job.started);
    }
  }
}
