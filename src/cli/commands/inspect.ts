import type { Command } from 'commander';
import { printJson } from '../output/format.js';
import { action } from '../runner.js';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('show everything about a sandbox (JSON)')
    .argument('<name>')
    .action(action(async (ctx, name: string) => printJson(await ctx.api.call('getSandbox', { params: { name } }))));
}
