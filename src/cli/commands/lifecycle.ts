import type { Command } from 'commander';
import { printJson } from '../output/format.js';
import { action, exitCodeOf } from '../runner.js';
import { contextFrom, type CliContext } from '../context.js';

/** stop, start and destroy: one verb, one sandbox (or several), one line each. */
export function register(program: Command): void {
  program
    .command('stop')
    .description('stop every process of a sandbox; its files stay')
    .argument('<names...>')
    .action(
      action(async (ctx, names: string[]) => {
        for (const name of names) {
          const s = await ctx.api.call('stopSandbox', { params: { name } });
          if (ctx.json) printJson(s);
          else process.stdout.write(`${name}\n`);
        }
      }),
    );
  program
    .command('start')
    .description('start a stopped sandbox')
    .argument('<names...>')
    .action(
      action(async (ctx, names: string[]) => {
        for (const name of names) {
          const s = await ctx.api.call('startSandbox', { params: { name } });
          if (ctx.json) printJson(s);
          else process.stdout.write(`${name}\n`);
        }
      }),
    );
  program
    .command('destroy')
    .alias('rm')
    .description('remove a sandbox: processes, mounts, network, cgroup and files')
    .argument('<names...>')
    .action(action(destroyAll));
}

async function destroyAll(ctx: CliContext, names: string[]): Promise<void> {
  for (const name of names) {
    await ctx.api.call('destroySandbox', { params: { name } });
    if (ctx.json) printJson({ name, destroyed: true });
    else process.stdout.write(`${name}\n`);
  }
}

/** `bothub destroy NAME...` with no option, from bin/bothub without the parser (commander is a tenth of its start-up). */
export async function destroyWithoutParser(names: string[]): Promise<void> {
  process.exitCode = await exitCodeOf(async () => destroyAll(await contextFrom({ json: false }), names));
}
