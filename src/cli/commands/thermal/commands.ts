import type { Command } from 'commander';
import { BothubError, parseDuration } from '../../../core/index.js';
import { removeCommand } from '../remove-command.js';
import { printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new BothubError('INVALID_INPUT', `invalid port "${text}": give a number from 1 to 65535`);
  return n;
}

/** pause, resume, freeze, events, publish, unpublish: how idle sandboxes cool and how they are reached. */
export function register(program: Command): void {
  for (const [verb, route, what] of [
    ['pause', 'pauseSandbox', 'freeze a sandbox in place (warm): no CPU, memory kept'],
    ['resume', 'resumeSandbox', 'wake a warm or cold sandbox'],
    ['freeze', 'freezeSandbox', 'put a sandbox to disk now (cold): processes gone, memory free; the next request wakes it'],
  ] as const) {
    program
      .command(verb)
      .description(what)
      .argument('<name>')
      .action(
        action(async (ctx, name: string) => {
          const sb = await ctx.api.call(route, { params: { name } });
          if (ctx.json) printJson(sb);
          else process.stdout.write(`${sb.name} ${sb.thermal}\n`);
        }),
      );
  }
  program
    .command('events')
    .description('state changes of your sandboxes (of one if named)')
    .argument('[name]')
    .action(
      action(async (ctx, name?: string) => {
        const events = await ctx.api.call('listEvents', { query: name ? { sandbox: name } : {} });
        if (ctx.json) return printJson(events);
        process.stdout.write(
          table(
            ['TIME', 'SANDBOX', 'EVENT', 'DETAIL'],
            events.map((e) => [e.at.replace('T', ' ').slice(0, 19), e.sandbox, e.type, e.detail ?? '']),
          ),
        );
      }),
    );
  program
    .command('publish')
    .description("serve a sandbox's port at a preview URL (private: the owner's key is needed, unless --public)")
    .argument('<name>')
    .requiredOption('-p, --port <port>', 'port inside the sandbox')
    .option('--public', 'open to anyone who has the URL')
    .action(
      action(async (ctx, name: string, opts: { port: string; public?: boolean }) => {
        const sb = await ctx.api.call('publish', { params: { name }, body: { port: port(opts.port), public: !!opts.public } });
        const u = sb.urls.find((x) => x.port === port(opts.port))!;
        if (ctx.json) printJson(u);
        else process.stdout.write(`${u.url}\n${u.pathUrl}\n`);
      }),
    );
  program
    .command('share')
    .description('print a signed, expiring link to a private preview (works without a key until it expires or is revoked)')
    .argument('<name>')
    .requiredOption('-p, --port <port>', 'published port')
    .option('--ttl <duration>', 'how long the link works, e.g. 30m, 1h, 7d', '1h')
    .action(
      action(async (ctx, name: string, opts: { port: string; ttl: string }) => {
        const ttlSeconds = Math.round(parseDuration(opts.ttl) / 1000);
        const link = await ctx.api.call('createShare', { params: { name }, body: { port: port(opts.port), ttlSeconds } });
        if (ctx.json) return printJson(link);
        process.stdout.write(`${link.url}\n`);
        process.stderr.write(`share ${link.share.id}, valid until ${link.share.expiresAt}; revoke it with \`bothub unshare ${link.share.id}\`\n`);
      }),
    );
  removeCommand(program, 'unshare', 'revoke a share link by its id', (ctx, id) => ctx.api.call('revokeShare', { params: { id } }));
  program
    .command('unpublish')
    .description('stop serving a port')
    .argument('<name>')
    .requiredOption('-p, --port <port>', 'port inside the sandbox')
    .action(
      action(async (ctx, name: string, opts: { port: string }) => {
        const sb = await ctx.api.call('unpublish', { params: { name, port: port(opts.port) } });
        if (ctx.json) printJson(sb);
        else process.stdout.write(`${name}\n`);
      }),
    );
}
