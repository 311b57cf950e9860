import type { Command } from 'commander';
import type { SnapshotT } from '../../../api/index.js';
import { bytes, printJson } from '../../output/format.js';
import { progressPrinter } from '../../output/progress.js';
import { action } from '../../runner.js';

export function register(snapshot: Command): void {
  snapshot
    .command('create')
    .description('checkpoint a running sandbox: processes, memory, open files, sockets and files written')
    .argument('<sandbox>')
    .requiredOption('--name <snap>', 'snapshot name')
    .option('--leave-running', 'keep the sandbox running (otherwise it stops, snapshotted)')
    .action(
      action(async (ctx, sandbox: string, opts: { name: string; leaveRunning?: boolean }) => {
        const progress = progressPrinter(opts.name);
        const snap = await ctx.api.progress<SnapshotT>(
          'createSnapshot',
          { params: { name: sandbox }, body: { name: opts.name, leaveRunning: !!opts.leaveRunning } },
          progress.update,
        );
        if (ctx.json) return printJson(snap);
        progress.done(
          `snapshot ${snap.name} of ${snap.sandbox} created (${bytes(snap.sizeBytes)})${snap.leaveRunning ? '' : `; ${snap.sandbox} is stopped, resume it with \`bothub snapshot restore ${snap.name}\``}`,
        );
      }),
    );
}
