import { spawn } from 'node:child_process';
import { BothubError } from '../core/index.js';
import { CommandError, type Host, type RunOptions, type RunResult } from './host.js';
import { LocalFiles } from './local-files.js';

/** Runs programs on this machine, always with an argument array, never a shell; its files are LocalFiles'. */
export class LocalHost extends LocalFiles implements Host {
  readonly name = 'local';

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new BothubError('ABORTED', `${command} was cancelled before it started`));
        return;
      }
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
        if (e.name === 'AbortError') reject(new BothubError('ABORTED', `${command} was cancelled`));
        else if (e.code === 'ENOENT') reject(new BothubError('RUNTIME_FAILED', `${command} is not installed on this host; run the set-up command from the README`));
        else reject(e);
      });
      child.on('close', (code, signal) => {
        const result = { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
        if (result.code !== 0 && !options.allowFailure) reject(new CommandError(command, args, result));
        else resolve(result);
      });
    });
  }
}
