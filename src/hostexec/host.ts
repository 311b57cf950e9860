import type { Readable, Writable } from 'node:stream';
import type { HostFiles } from './host-files.js';

export interface RunOptions {
  /** Bytes written to the program's stdin, which is then closed. */
  input?: string | Buffer;
  /** A stream piped to the program's stdin (a file being sent to another host), with backpressure. */
  stdin?: Readable;
  /** An open descriptor to give the program as its stdin (instead of `input`). */
  stdinFd?: number;
  signal?: AbortSignal;
  env?: Record<string, string>;
  cwd?: string;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** Called with each chunk of stderr as it arrives (progress of long tools). */
  onStderr?: (chunk: string) => void;
  onStdout?: (chunk: string) => void;
  /** Where the program's stdout goes, with backpressure, instead of being collected (a file read on another host). */
  stdout?: Writable;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Where programs run and files live (devcontainers' CLIHost). Higher layers
 * never touch child_process or node:fs: the same calls run on this machine,
 * or on a fleet host over SSH.
 */
export interface Host extends HostFiles {
  readonly name: string;
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** A program that exited non-zero; carries what it printed. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly result: RunResult,
  ) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' | ');
    super(`${command} ${args.slice(0, 3).join(' ')} exited with ${result.code}: ${detail}`);
    this.name = 'CommandError';
  }
}
