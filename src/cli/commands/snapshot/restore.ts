import type { Command } from 'commander';
import type { SandboxT } from '../../../api/index.js';
import { printJson } from '../../output/format.js';
import { progressPrinter } from '../../output/progress.js';
import { action } from '../../runner.js';

export function register(snapshot: Command): void {
  snapshot
    .command('restore')
    .description("resume the snapshot's own sandbox, or with --name branch a new, independent one from it")
    .argument('<snap>')
    .option('--name <new>', 'branch a new sandbox with this name')
    .action(
      action(async (ctx, snap: string, opts: { name?: string }) => {
        const progress = progressPrinter(snap);
        const sb = await ctx.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body: opts.name ? { name: opts.name } : {} }, progress.update);
        if (ctx.json) return printJson(sb);
        progress.done(`${sb.name} restored from ${snap}${sb.address ? ` at ${sb.address}` : ''}`);
        process.stdout.write(`${sb.name}\n`);
      }),
    );
}
