import type { Command } from 'commander';
import { ago, printJson, table } from '../output/format.js';
import { action } from '../runner.js';

export function register(program: Command): void {
  program
    .command('list')
    .alias('ls')
    .description('list sandboxes')
    .action(
      action(async (ctx) => {
        const sandboxes = await ctx.api.call('listSandboxes');
        if (ctx.json) return printJson(sandboxes);
        const rows = sandboxes.map((s) => [
          s.name,
          s.status,
          s.status === 'running' ? s.thermal : '-',
          s.host,
          s.image,
          s.address ?? '-',
          ago(s.createdAt),
          s.urls.map((u) => u.url).join(' ') || '-',
        ]);
        process.stdout.write(table(['NAME', 'STATUS', 'THERMAL', 'HOST', 'IMAGE', 'ADDRESS', 'CREATED', 'URL'], rows));
      }),
    );
}
