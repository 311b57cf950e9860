import type { Command } from 'commander';
import type { ExecRecordT } from '../../../api/index.js';
import { ago, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { streamCommand } from '../exec.js';

const commandLine = (r: ExecRecordT) => {
  const text = r.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return text.length > 48 ? `${text.slice(0, 45)}...` : text;
};
const exitOf = (r: ExecRecordT) => (r.signal ? `signal ${r.signal}` : r.exitCode === null ? '-' : String(r.exitCode));

/** Prefers bash when the image has it, as a person at a terminal expects. */
const SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

export function register(program: Command): void {
  program
    .command('ps')
    .description('list the background and interactive commands of a sandbox')
    .argument('<name>')
    .option('-a, --all', 'include finished ones')
    .action(
      action(async (ctx, name: string, opts: { all?: boolean }) => {
        const rows = (await ctx.api.call('listExecs', { params: { name } })).filter((r) => (r.detached || r.tty) && (opts.all || r.status === 'running' || r.detached));
        if (ctx.json) return printJson(rows);
        process.stdout.write(
          table(
            ['ID', 'COMMAND', 'STATUS', 'EXIT', 'STARTED'],
            rows.map((r) => [r.id, commandLine(r), r.status, exitOf(r), ago(r.startedAt)]),
          ),
        );
      }),
    );

  program
    .command('history')
    .description('every command run in a sandbox (the exec ledger), oldest first')
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        const rows = await ctx.api.call('listExecs', { params: { name } });
        if (ctx.json) return printJson(rows);
        process.stdout.write(
          table(
            ['ID', 'STARTED', 'BY', 'COMMAND', 'WORKDIR', 'STATUS', 'EXIT', 'OUTPUT'],
            rows.map((r) => [
              r.id,
              r.startedAt.replace('T', ' ').slice(0, 19),
              r.actor,
              commandLine(r),
              r.workdir,
              r.status,
              exitOf(r),
              r.outputBytes === null ? '-' : `${r.outputBytes}B`,
            ]),
          ),
        );
      }),
    );

  program
    .command('kill')
    .description('send a signal to a running command (default TERM)')
    .argument('<name>')
    .argument('<id>', 'command id, from `bothub ps`')
    .option('-s, --signal <signal>', 'signal name or number', 'TERM')
    .action(
      action(async (ctx, name: string, id: string, opts: { signal: string }) => {
        const signal = /^\d+$/.test(opts.signal) ? Number(opts.signal) : opts.signal.toUpperCase();
        const rec = await ctx.api.call('killExec', { params: { name, id }, body: { signal } });
        if (ctx.json) printJson(rec);
      }),
    );

  program
    .command('attach')
    .description('re-join a running interactive command; shows its recent screen first (Ctrl-C goes to the command)')
    .argument('<name>')
    .argument('<id>', 'command id, from `bothub ps`')
    .action(
      action(async (ctx, name: string, id: string) => {
        const tty = process.stdin.isTTY && process.stdout.isTTY;
        return streamCommand(ctx, ctx.api.websocket('attachExec', { name, id }), { tty, forwardStdin: true });
      }),
    );

  program
    .command('shell')
    .description('an interactive shell in a sandbox; its exit code becomes ours')
    .argument('<name>')
    .option('-w, --workdir <dir>', 'working directory inside the sandbox')
    .action(
      action(async (ctx, name: string, opts: { workdir?: string }) => {
        const tty = process.stdin.isTTY && process.stdout.isTTY;
        const start = { command: SHELL, workdir: opts.workdir, ...(tty ? { tty: { rows: process.stdout.rows, cols: process.stdout.columns } } : {}) };
        return streamCommand(ctx, ctx.api.websocket('execStream', { name }), { start, tty, forwardStdin: true });
      }),
    );
}
