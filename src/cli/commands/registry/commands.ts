import type { Command } from 'commander';
import { BothubError } from '../../../core/index.js';
import { ago, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { removeCommand } from '../remove-command.js';
import { readStdin } from '../secret/commands.js';

/** Logins to OCI registries, kept sealed by the daemon and used by `image pull` and `image push`. */
export function register(program: Command): void {
  const registry = program.command('registry').description('your logins to OCI registries, used by image pull and push');
  registry
    .command('login')
    .description('store your credentials for a registry host (the password is read from stdin, never from the command line)')
    .argument('<host>', 'e.g. docker.io, ghcr.io, registry.example:5000')
    .requiredOption('--username <user>')
    .option('--password-stdin', 'read the password from stdin (the only way it is taken)')
    .action(
      action(async (ctx, host: string, opts: { username: string; passwordStdin?: boolean }) => {
        if (!opts.passwordStdin) throw new BothubError('INVALID_INPUT', 'pass --password-stdin and pipe the password in, e.g. `printf %s "$PASS" | bothub registry login HOST --username U --password-stdin`');
        const password = await readStdin();
        if (!password) throw new BothubError('INVALID_INPUT', 'no password on stdin');
        const r = await ctx.api.call('registryLogin', { params: { host }, body: { username: opts.username, password } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`logged in to ${r.host} as ${r.username}\n`);
      }),
    );
  registry
    .command('list')
    .alias('ls')
    .description('registries you are logged in to')
    .action(
      action(async (ctx) => {
        const list = await ctx.api.call('listRegistries');
        if (ctx.json) return printJson(list);
        process.stdout.write(table(['HOST', 'USERNAME', 'SINCE'], list.map((r) => [r.host, r.username, ago(r.createdAt)])));
      }),
    );
  removeCommand(registry, 'logout', 'forget your credentials for a registry host', (ctx, host) => ctx.api.call('registryLogout', { params: { host } }));
}
