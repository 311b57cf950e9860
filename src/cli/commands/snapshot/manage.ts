import type { Command } from 'commander';
import { ago, bytes, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { removeCommand } from '../remove-command.js';

export function register(snapshot: Command): void {
  snapshot
    .command('list')
    .alias('ls')
    .description('list snapshots, of one sandbox if named')
    .argument('[sandbox]')
    .action(
      action(async (ctx, sandbox?: string) => {
        const snaps = await ctx.api.call('listSnapshots', { query: sandbox ? { sandbox } : {} });
        if (ctx.json) return printJson(snaps);
        process.stdout.write(
          table(
            ['SNAP', 'SANDBOX', 'SIZE', 'CREATED'],
            snaps.map((s) => [s.name, s.sandbox, bytes(s.sizeBytes), ago(s.createdAt)]),
          ),
        );
      }),
    );
  snapshot
    .command('inspect')
    .description('show a snapshot (JSON)')
    .argument('<snap>')
    .action(action(async (ctx, name: string) => printJson(await ctx.api.call('getSnapshot', { params: { name } }))));
  removeCommand(snapshot, 'delete', 'delete a snapshot', (ctx, name) => ctx.api.call('deleteSnapshot', { params: { name } }), 'rm');
}
