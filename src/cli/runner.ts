import type { Command } from 'commander';
import { BothubError } from '../core/errors.js'; // not the barrel: every command pays for what it loads
import { cliContext, type CliContext } from './context.js';
import { withHint } from './error-hints.js';

/**
 * Wraps a command's action: any error becomes one line on stderr and the
 * exit code of its error code. Commands never catch just to print.
 */
export function action<A extends unknown[]>(fn: (ctx: CliContext, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    process.exitCode = await exitCodeOf(async () => fn(await cliContext(cmd), ...(args.slice(0, -1) as A)));
  };
}

/** Runs a command's body: its exit code, or its error as one line on stderr and the exit code of its error code. */
export async function exitCodeOf(fn: () => Promise<number | void>): Promise<number> {
  try {
    return (await fn()) ?? 0;
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof BothubError) {
    process.stderr.write(`bothub: ${withHint(e.code, e.message)}\n`);
    return e.exitCode;
  }
  process.stderr.write(`bothub: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  return 70;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
