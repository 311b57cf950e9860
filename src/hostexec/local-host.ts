import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BothubError } from '../core/index.js';
import { CommandError, type Host, type RunOptions, type RunResult } from './host.js';
import { LocalFiles } from './local-files.js';
import { CommandSpawner } from './spawner.js';

type Settle = { resolve: (r: RunResult) => void; reject: (e: Error) => void };

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));
let processSpawner: CommandSpawner | null | undefined;

/**
 * The process's one bothub-spawner, started on first use: native/build's, or
 * BOTHUB_SPAWNER's path; BOTHUB_SPAWNER=off spawns every command with
 * child_process (to compare, or where the binary cannot run).
 */
export function defaultSpawner(): CommandSpawner | null {
  if (processSpawner === undefined) {
    const path = process.env.BOTHUB_SPAWNER ?? fileURLToPath(new URL('../../native/build/bothub-spawner', import.meta.url));
    processSpawner = path === 'off' || path === '' ? null : new CommandSpawner(path);
  }
  return processSpawner;
}

/**
 * Runs programs on this machine, always with an argument array, never a
 * shell; its files are LocalFiles'. Commands go through bothub-spawner (so the
 * daemon never forks) unless they stream stdin or stdout, or the spawner is
 * unavailable: child_process then, with the same results and errors.
 */
export class LocalHost extends LocalFiles implements Host {
  readonly name = 'local';

  /** `null`: every command through child_process. */
  constructor(private readonly spawner: CommandSpawner | null = defaultSpawner()) {
    super();
  }

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new BothubError('ABORTED', `${command} was cancelled before it started`));
        return;
      }
      const streams = options.stdin !== undefined || options.stdinFd !== undefined || options.stdout !== undefined;
      if (streams || !command || !this.spawner || !runThroughSpawner(this.spawner, command, args, options, { resolve, reject })) runWithChildProcess(command, args, options, { resolve, reject });
    });
  }
}

function notInstalled(command: string): BothubError {
  return new BothubError('RUNTIME_FAILED', `${command} is not installed on this host; run the set-up command from the README`);
}

function finish(command: string, args: readonly string[], options: RunOptions, result: RunResult, settle: Settle): void {
  if (result.code !== 0 && !options.allowFailure) settle.reject(new CommandError(command, args, result));
  else settle.resolve(result);
}

/** Returns false when the spawner cannot take this command now (nothing was started). */
function runThroughSpawner(spawner: CommandSpawner, command: string, args: readonly string[], options: RunOptions, settle: Settle): boolean {
  const env = options.env ? { ...process.env, ...options.env } : process.env;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const onAbort = () => {
    spawned?.kill('SIGTERM'); // as child_process does on abort
    settle.reject(new BothubError('ABORTED', `${command} was cancelled`));
  };
  const done = () => options.signal?.removeEventListener('abort', onAbort);
  const input = typeof options.input === 'string' ? Buffer.from(options.input) : options.input;
  const spawned = spawner.run(
    {
      argv: [command, ...args],
      env: Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
      cwd: options.cwd ?? '',
      stdinPipe: input !== undefined,
    },
    input,
    {
      started: () => {},
      failed: (errno) => {
        done();
        const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
        if (code === 'ENOENT') settle.reject(notInstalled(command));
        // What child_process's 'error' carries.
        else settle.reject(Object.assign(new Error(`spawn ${command} ${code}`), { errno: -errno, code, syscall: `spawn ${command}`, path: command, spawnargs: [...args] }));
      },
      stdout: (b) => {
        out.push(b);
        options.onStdout?.(b.toString());
      },
      stderr: (b) => {
        err.push(b);
        options.onStderr?.(b.toString());
      },
      exit: (code, signal) => {
        done();
        finish(command, args, options, { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }, settle);
      },
      lost: (started) => {
        done();
        if (options.signal?.aborted) return; // already rejected
        // Never started: nothing ran, so child_process runs it. Started: it may still be running, and its outcome is unknown.
        if (!started) runWithChildProcess(command, args, options, settle);
        else settle.reject(new BothubError('RUNTIME_FAILED', `${command} was cut off from bothub when bothub-spawner, which ran it, died; it may still be running; retry the operation`));
      },
    },
  );
  if (!spawned) return false;
  options.signal?.addEventListener('abort', onAbort, { once: true });
  return true;
}

function runWithChildProcess(command: string, args: readonly string[], options: RunOptions, settle: Settle): void {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: [options.stdinFd ?? (options.input === undefined && !options.stdin ? 'ignore' : 'pipe'), 'pipe', 'pipe'],
    signal: options.signal,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  if (options.stdout) child.stdout!.pipe(options.stdout, { end: false });
  else
    child.stdout!.on('data', (b: Buffer) => {
      out.push(b);
      options.onStdout?.(b.toString());
    });
  child.stderr!.on('data', (b: Buffer) => {
    err.push(b);
    options.onStderr?.(b.toString());
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  else if (options.stdin) options.stdin.pipe(child.stdin!);
  child.on('error', (e: NodeJS.ErrnoException) => {
    if (e.name === 'AbortError') settle.reject(new BothubError('ABORTED', `${command} was cancelled`));
    else if (e.code === 'ENOENT') settle.reject(notInstalled(command));
    else settle.reject(e);
  });
  child.on('close', (code, signal) => {
    finish(command, args, options, { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }, settle);
  });
}
