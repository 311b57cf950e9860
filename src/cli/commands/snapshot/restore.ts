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
    .option('--host <host>', 'restore it on this fleet host (the compatibility gate checks it first)')
    .action(
      action(async (ctx, snap: string, opts: { name?: string; host?: string }) => {
        const progress = progressPrinter(snap);
        const body = { ...(opts.name ? { name: opts.name } : {}), ...(opts.host ? { host: opts.host } : {}) };
        const sb = await ctx.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body }, progress.update);
        if (ctx.json) return printJson(sb);
        progress.done(`${sb.name} restored from ${snap} on host ${sb.host}${sb.address ? ` at ${sb.address}` : ''}`);
        process.stdout.write(`${sb.name}\n`);
      }),
    );
}
