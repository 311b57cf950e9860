import type { Command } from 'commander';
import type { MoveResultT, SandboxT } from '../../api/index.js';
import { bytes, printJson } from '../output/format.js';
import { progressPrinter } from '../output/progress.js';
import { action } from '../runner.js';

export function register(program: Command): void {
  program
    .command('move')
    .description('move a running sandbox to another host: checkpoint, transfer, restore, check; on any failure it keeps running where it was')
    .argument('<name>')
    .requiredOption('--to <host>', 'the host to move it to (see `bothub host list`; "local" is the daemon’s machine)')
    .action(
      action(async (ctx, name: string, opts: { to: string }) => {
        const progress = progressPrinter(name);
        const r = await ctx.api.progress<MoveResultT>('moveSandbox', { params: { name }, body: { to: opts.to } }, progress.update);
        if (ctx.json) return printJson(r);
        const mbps = r.transferMs > 0 ? ` at ${((r.bytes - r.resumedBytes) / 1e6 / (r.transferMs / 1000)).toFixed(1)} MB/s` : '';
        progress.done(
          `${name} moved from ${r.from} to ${r.to}${r.sandbox.address ? `, now at ${r.sandbox.address}` : ''}: snapshot ${r.snapshotMs} ms, transfer ${bytes(r.bytes)} in ${r.transferMs} ms${mbps}${r.resumedBytes ? ` (${bytes(r.resumedBytes)} resumed)` : ''}, restore ${r.restoreMs} ms`,
        );
      }),
    );
  program
    .command('place')
    .description('place a sandbox parked by a released rented host on a host again and thaw it there, showing each step (any request to it does this first)')
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        const progress = progressPrinter(name);
        const s = await ctx.api.progress<SandboxT>('placeSandbox', { params: { name } }, progress.update);
        if (ctx.json) return printJson(s);
        progress.done(`${name} runs on ${s.host}${s.address ? ` at ${s.address}` : ''}`);
      }),
    );
}
