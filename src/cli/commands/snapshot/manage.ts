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
            ['SNAP', 'SANDBOX', 'STATUS', 'HOST', 'SIZE', 'ALONE', 'CREATED'],
            // HOST: the fleet host whose store keeps it (control planes), or this daemon's; `snapshot inspect` says why one is unavailable.
            snaps.map((s) => [
              s.name,
              s.sandbox,
              s.statusReason ? 'unavailable' : s.status,
              s.keptOn ?? 'local',
              bytes(s.sizeBytes),
              s.uniqueBytes === undefined ? '-' : bytes(s.uniqueBytes),
              ago(s.createdAt),
            ]),
          ),
        );
      }),
    );
  snapshot
    .command('inspect')
    .description('show a snapshot (JSON)')
    .argument('<snap>')
    .action(action(async (ctx, name: string) => printJson(await ctx.api.call('getSnapshot', { params: { name } }))));
  snapshot
    .command('hosts')
    .description('which hosts could restore a snapshot, and every reason the others cannot')
    .argument('<snap>')
    .action(
      action(async (ctx, name: string) => {
        const verdicts = await ctx.api.call('snapshotHosts', { params: { name } });
        if (ctx.json) return printJson(verdicts);
        process.stdout.write(
          table(
            ['HOST', 'STATUS', 'RESTORE', 'WHY NOT'],
            verdicts.map((v) => [v.host, v.status, v.compatible ? 'yes' : 'no', v.reasons.join('; ') || '-']),
          ),
        );
      }),
    );
  removeCommand(snapshot, 'delete', 'delete a snapshot', (ctx, name) => ctx.api.call('deleteSnapshot', { params: { name } }), 'rm');
}
