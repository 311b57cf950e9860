import type { Command } from 'commander';
import { printJson } from '../output/format.js';
import { action } from '../runner.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('what this host can do: kernel, runc, CRIU, capabilities, and what that means for snapshots')
    .action(
      action(async (ctx) => {
        const d = await ctx.api.call('doctor');
        if (ctx.json) return printJson(d);
        const lines = [
          `kernel        ${d.kernel} (cgroup ${d.cgroup})`,
          `runc          ${d.runc.version}`,
          `criu          ${d.criu.version || 'missing'} at ${d.criu.path}; criu check: ${d.criu.check ? 'passes' : `FAILS: ${d.criu.output.split('\n').pop()}`}`,
          `capabilities  ${d.capabilities.join(' ')}`,
          `snapshots     ${d.snapshots.detail}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
        return d.snapshots.available ? 0 : 1;
      }),
    );
}
