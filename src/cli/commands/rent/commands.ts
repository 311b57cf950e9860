import type { Command } from 'commander';
import type { ProviderNameT } from '../../../api/index.js';
import { BothubError } from '../../../core/index.js';
import { printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { removeCommand } from '../remove-command.js';
import { readStdin } from '../secret/commands.js';

const PROVIDERS = ['vast', 'runpod', 'hyperbolic'];

export function providerName(p: string): ProviderNameT {
  if (!PROVIDERS.includes(p)) throw new BothubError('INVALID_INPUT', `unknown provider "${p}": use one of ${PROVIDERS.join(', ')}`);
  return p as ProviderNameT;
}

export function price(s: string): number {
  const n = Number(s.replace(/^\$/, ''));
  if (!Number.isFinite(n) || n <= 0) throw new BothubError('INVALID_INPUT', `invalid price "${s}": give US dollars per hour, e.g. 0.80`);
  return n;
}

export function count(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new BothubError('INVALID_INPUT', `invalid count "${s}": give a whole number of GPUs, 1 or more`);
  return n;
}

const usd = (n: number) => `$${n.toFixed(n < 1 ? 3 : 2)}`;

/** GPU providers' keys, offers across them, and what rented hosts cost. */
export function register(program: Command): void {
  const provider = program.command('provider').description('GPU providers bothub can rent hosts from (keys stored sealed)');
  provider
    .command('add')
    .description("store a provider's API key (read from stdin); it is tried before it is stored")
    .argument('<provider>', PROVIDERS.join(' | '))
    .option('--key-stdin', 'read the key from stdin (the only way it is taken)')
    .option('--api-url <url>', "another address for the provider's API (a proxy)")
    .action(
      action(async (ctx, name: string, opts: { keyStdin?: boolean; apiUrl?: string }) => {
        const p = providerName(name);
        if (!opts.keyStdin) throw new BothubError('INVALID_INPUT', `pass --key-stdin and pipe the key in, e.g. \`printf %s "$KEY" | bothub provider add ${p} --key-stdin\``);
        const key = await readStdin();
        if (!key) throw new BothubError('INVALID_INPUT', 'no key on stdin');
        const r = await ctx.api.call('addProvider', { params: { provider: p }, body: { key, ...(opts.apiUrl ? { baseUrl: opts.apiUrl } : {}) } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`${r.name}  ${r.baseUrl}\n`);
      }),
    );
  provider
    .command('list')
    .alias('ls')
    .description('providers with a key: NAME URL')
    .action(
      action(async (ctx) => {
        const list = await ctx.api.call('listProviders');
        if (ctx.json) return printJson(list);
        process.stdout.write(table(['NAME', 'URL', 'SINCE'], list.map((p) => [p.name, p.baseUrl, p.createdAt])));
      }),
    );
  removeCommand(provider, 'rm', "forget a provider's key (refused while hosts rented from it live)", (ctx, name) => ctx.api.call('removeProvider', { params: { provider: providerName(name) } }));
  provider
    .command('reconcile')
    .description("compare each provider's instances with bothub's rentals now; destroy instances of bothub's that no rental owns")
    .action(
      action(async (ctx) => {
        const r = await ctx.api.call('reconcileProviders');
        if (ctx.json) return printJson(r);
        for (const d of r.destroyed) process.stdout.write(`destroyed ${d.provider} instance ${d.instanceId} (${d.label ?? 'no label'}): no rental owned it\n`);
        for (const h of r.ended) process.stdout.write(`ended rental of host ${h}: its provider no longer has the instance\n`);
        for (const e of r.errors) process.stderr.write(`${e}\n`);
        if (!r.destroyed.length && !r.ended.length) process.stdout.write('nothing to reconcile\n');
      }),
    );

  program
    .command('offers')
    .description('machines for rent now across providers, cheapest first: PROVIDER:ID GPU VRAM $/H LOCATION CHECKPOINT')
    .option('--provider <p>', PROVIDERS.join(' | '))
    .option('--gpu <model>', 'e.g. 4090, H100, "RTX A6000"')
    .option('--count <n>', 'at least this many GPUs', count)
    .option('--max-price <usd>', 'US dollars per hour at most', price)
    .action(
      action(async (ctx, opts: { provider?: string; gpu?: string; count?: number; maxPrice?: number }) => {
        const r = await ctx.api.call('listOffers', {
          query: { ...(opts.provider ? { provider: providerName(opts.provider) } : {}), ...(opts.gpu ? { gpu: opts.gpu } : {}), ...(opts.count ? { count: opts.count } : {}), ...(opts.maxPrice ? { maxPrice: opts.maxPrice } : {}) },
        });
        if (ctx.json) return printJson(r);
        process.stdout.write(
          table(
            ['OFFER', 'GPU', 'VRAM', '$/H', 'LOCATION', 'CHECKPOINT'],
            r.offers.map((o) => [o.ref, `${o.gpuCount}× ${o.gpuModel}`, `${Math.round(o.vramMb / 1024)}GB`, usd(o.usdPerHour), o.location, o.canCheckpoint ? 'yes' : 'no']),
          ),
        );
        for (const e of r.errors) process.stderr.write(`${e.message}\n`);
      }),
    );

  const cost = program.command('cost').description('what rented hosts cost: per host, sandbox and user');
  cost
    .option('--since <time>', 'from this ISO time (default: all)')
    .action(
      action(async (ctx, opts: { since?: string }) => {
        if (opts.since && Number.isNaN(Date.parse(opts.since))) throw new BothubError('INVALID_INPUT', `invalid --since "${opts.since}": give an ISO time, e.g. 2026-01-31T00:00:00Z`);
        const r = await ctx.api.call('getCost', { query: opts.since ? { since: new Date(opts.since).toISOString() } : {} });
        if (ctx.json) return printJson(r);
        process.stdout.write(table(['HOST', 'PROVIDER', '$/H', 'SPENT', 'LIVE'], r.hosts.map((h) => [h.host, h.provider, usd(h.usdPerHour), usd(h.spentUsd), h.active ? 'yes' : 'no'])));
        if (r.sandboxes.length) process.stdout.write('\n' + table(['SANDBOX', 'OWNER', 'SPENT'], r.sandboxes.map((s) => [s.sandbox, s.owner ?? '-', usd(s.spentUsd)])));
        if (r.users.length)
          process.stdout.write('\n' + table(['USER', 'SPENT', '$/H NOW', 'LIMIT $/H'], r.users.map((u) => [u.user, usd(u.spentUsd), usd(u.usdPerHourNow), u.limitUsdPerHour === null ? '-' : usd(u.limitUsdPerHour)])));
        process.stdout.write(`\ntotal ${usd(r.totalUsd)}${r.since ? ` since ${r.since}` : ''}\n`);
      }),
    );
  cost
    .command('limit')
    .description("a user's limit on the hourly price of the rented hosts their sandboxes use (\"none\" removes it)")
    .argument('<user>')
    .argument('<usd-per-hour>')
    .action(
      action(async (ctx, user: string, limit: string) => {
        await ctx.api.call('setPriceLimit', { params: { name: user }, body: { maxUsdPerHour: limit === 'none' ? null : price(limit) } });
        if (!ctx.json) process.stdout.write(`${user}: ${limit === 'none' ? 'no limit' : `at most ${usd(price(limit))}/h`}\n`);
      }),
    );
}
