import type { Command } from 'commander';
import { BothubError, formatMb, parseSizeMb } from '../../../core/index.js';
import { ago, bytes, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';

function quotaNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new BothubError('INVALID_INPUT', `invalid ${flag} "${text}": give a whole number (0 or more)`);
  return n;
}

export function register(program: Command): void {
  const user = program.command('user').description('manage users and their API keys (admin)');
  user
    .command('create')
    .description('create a user and print its API key (shown once)')
    .requiredOption('--name <name>', 'user name')
    .option('--max-sandboxes <n>', 'quota: sandboxes at once')
    .option('--max-memory <mb>', 'quota: memory of all sandboxes together, MB')
    .option('--max-snapshot-bytes <bytes>', 'quota: bytes of all snapshots together')
    .option('--max-disk <size>', "quota: disk of all sandboxes' writable layers together, e.g. 20G (each counts its --disk)")
    .option('--max-gpus <n>', 'quota: GPUs held at once')
    .action(
      action(async (ctx, opts: { name: string; maxSandboxes?: string; maxMemory?: string; maxSnapshotBytes?: string; maxDisk?: string; maxGpus?: string }) => {
        const r = await ctx.api.call('createUser', {
          body: {
            name: opts.name,
            quota: {
              maxSandboxes: quotaNumber('--max-sandboxes', opts.maxSandboxes),
              maxMemoryMb: quotaNumber('--max-memory', opts.maxMemory),
              maxSnapshotBytes: quotaNumber('--max-snapshot-bytes', opts.maxSnapshotBytes),
              maxDiskMb: opts.maxDisk === undefined ? undefined : parseSizeMb(opts.maxDisk, '--max-disk'),
              maxGpus: quotaNumber('--max-gpus', opts.maxGpus),
            },
          },
        });
        if (ctx.json) return printJson(r);
        process.stdout.write(`${r.key}\n`);
        process.stderr.write(`user ${r.user.name} created; the key above is shown once. On their machine: bothub setup --url URL --token KEY\n`);
      }),
    );
  user
    .command('list')
    .alias('ls')
    .description('list users')
    .action(
      action(async (ctx) => {
        const users = await ctx.api.call('listUsers');
        if (ctx.json) return printJson(users);
        const q = (n: number | null, f: (n: number) => string = String) => (n === null ? '-' : f(n));
        process.stdout.write(
          table(
            ['NAME', 'ROLE', 'MAX SANDBOXES', 'MAX MEMORY', 'MAX DISK', 'MAX GPUS', 'MAX SNAPSHOTS', 'CREATED'],
            users.map((u) => [
              u.name,
              u.admin ? 'admin' : 'user',
              q(u.quota.maxSandboxes),
              q(u.quota.maxMemoryMb, (n) => `${n}MB`),
              q(u.quota.maxDiskMb, formatMb),
              q(u.quota.maxGpus),
              q(u.quota.maxSnapshotBytes, bytes),
              ago(u.createdAt),
            ]),
          ),
        );
      }),
    );
  user
    .command('rotate-key')
    .description("replace a user's API key (the old one stops working) and print the new one")
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        const r = await ctx.api.call('rotateUserKey', { params: { name } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`${r.key}\n`);
      }),
    );
  user
    .command('rm')
    .description('remove a user (refused while it owns sandboxes, unless --force destroys them)')
    .argument('<name>')
    .option('--force', 'destroy the sandboxes and snapshots the user owns')
    .action(
      action(async (ctx, name: string, opts: { force?: boolean }) => {
        await ctx.api.call('removeUser', { params: { name }, query: { force: opts.force } });
        if (ctx.json) printJson({ name, removed: true });
        else process.stdout.write(`${name}\n`);
      }),
    );
}
