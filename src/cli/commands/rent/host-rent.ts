import type { Command } from 'commander';
import type { RentalT } from '../../../api/index.js';
import { BothubError, parseDuration } from '../../../core/index.js';
import { ago, printJson, table } from '../../output/format.js';
import { progressPrinter } from '../../output/progress.js';
import { action } from '../../runner.js';
import { count, price, providerName } from './commands.js';

const seconds = (s: string) => Math.round(parseDuration(s) / 1000);

/** `bothub host rent | release | rentals`: rented machines as hosts of the fleet. */
export function registerHostRent(host: Command): void {
  host
    .command('rent')
    .description('rent a machine (an offer, or the cheapest that fits) and add it as a host; destroyed again if it never answers SSH')
    .argument('[offer]', 'PROVIDER:ID from `bothub offers`')
    .option('--name <name>', 'the host name (default rent-<id>)')
    .option('--provider <p>', 'only this provider')
    .option('--gpu <model>', 'the GPU model, when no offer is named')
    .option('--count <n>', 'GPUs', count)
    .option('--max-price <usd>', 'US dollars per hour at most', price)
    .option('--no-checkpoint', 'accept an offer that cannot checkpoint (its sandboxes then cannot freeze, go cold or move)')
    .option('--idle-release <duration>', 'release it when its sandboxes have been idle this long (0: never)', '30m')
    .option('--ready-timeout <duration>', 'how long to wait for SSH before destroying it', '10m')
    .option('--dir <dir>', "the agent's data directory there")
    .action(
      action(async (ctx, offer: string | undefined, opts: { name?: string; provider?: string; gpu?: string; count?: number; maxPrice?: number; checkpoint: boolean; idleRelease: string; readyTimeout: string; dir?: string }) => {
        if (!offer && !opts.gpu) throw new BothubError('INVALID_INPUT', 'name an offer (PROVIDER:ID from `bothub offers`) or give --gpu MODEL [--max-price USD]');
        const progress = progressPrinter(opts.name ?? 'rent');
        const r = await ctx.api.progress<RentalT>(
          'rentHost',
          {
            body: {
              ...(offer ? { offer } : {}),
              ...(opts.name ? { name: opts.name } : {}),
              ...(opts.provider ? { provider: providerName(opts.provider) } : {}),
              ...(opts.gpu ? { gpu: opts.gpu } : {}),
              ...(opts.count ? { count: opts.count } : {}),
              ...(opts.maxPrice ? { maxPrice: opts.maxPrice } : {}),
              ...(opts.checkpoint ? {} : { noCheckpoint: true }),
              idleReleaseSec: seconds(opts.idleRelease),
              readyTimeoutSec: Math.max(1, seconds(opts.readyTimeout)),
              ...(opts.dir ? { dataDir: opts.dir } : {}),
            },
          },
          progress.update,
        );
        if (ctx.json) return printJson(r);
        progress.done(`${r.host}: ${r.gpuCount}× ${r.gpuModel} from ${r.provider} (instance ${r.instanceId}) at $${r.usdPerHour}/h${r.canCheckpoint ? '' : ', cannot checkpoint'}`);
      }),
    );
  host
    .command('release')
    .description('bring its sandboxes home (checkpointed, copied, verified), then destroy the rented instance')
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        const progress = progressPrinter(name);
        const r = await ctx.api.progress<RentalT>('releaseHost', { params: { name } }, progress.update);
        if (ctx.json) return printJson(r);
        progress.done(`${name} released: ${r.provider} instance ${r.instanceId} destroyed, $${r.spentUsd.toFixed(4)} spent`);
      }),
    );
  host
    .command('rentals')
    .description('rented hosts, live and ended: HOST PROVIDER INSTANCE STATUS $/H SPENT SINCE')
    .action(
      action(async (ctx) => {
        const list = await ctx.api.call('listRentals');
        if (ctx.json) return printJson(list);
        process.stdout.write(
          table(
            ['HOST', 'PROVIDER', 'INSTANCE', 'STATUS', '$/H', 'SPENT', 'SINCE'],
            list.map((r) => [r.host, r.provider, r.instanceId ?? '-', r.status, `$${r.usdPerHour}`, `$${r.spentUsd.toFixed(4)}`, ago(r.createdAt)]),
          ),
        );
      }),
    );
}
