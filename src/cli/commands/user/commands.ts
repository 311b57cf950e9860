import type { Command } from 'commander';
import { BothubError, formatMb, parseSizeMb } from '../../../core/index.js';
import { ago, bytes, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import type { UserT } from '../../../api/index.js';

/** A quota flag's value: a whole number, or (when changing a quota) `none` for no limit. */
function quotaNumber(flag: string, text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'none') return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new BothubError('INVALID_INPUT', `invalid ${flag} "${text}": give a whole number (0 or more), or none for no limit`);
  return n;
}

interface QuotaFlags {
  maxSandboxes?: string;
  maxMemory?: string;
  maxSnapshotBytes?: string;
  maxDisk?: string;
  maxGpus?: string;
}

/** The quota flags, shared by `user create` and `user quota`. */
function withQuotaFlags(cmd: Command): Command {
  return cmd
    .option('--max-sandboxes <n>', 'quota: sandboxes at once')
    .option('--max-memory <mb>', 'quota: memory of all sandboxes together, MB')
    .option('--max-snapshot-bytes <bytes>', 'quota: bytes of all snapshots together')
    .option('--max-disk <size>', "quota: disk of all sandboxes' writable layers together, e.g. 20G (each counts its --disk)")
    .option('--max-gpus <n>', 'quota: GPUs held at once');
}

function quotaBody(opts: QuotaFlags) {
  return {
    maxSandboxes: quotaNumber('--max-sandboxes', opts.maxSandboxes),
    maxMemoryMb: quotaNumber('--max-memory', opts.maxMemory),
    maxSnapshotBytes: quotaNumber('--max-snapshot-bytes', opts.maxSnapshotBytes),
    maxDiskMb: opts.maxDisk === undefined ? undefined : opts.maxDisk === 'none' ? null : parseSizeMb(opts.maxDisk, '--max-disk'),
    maxGpus: quotaNumber('--max-gpus', opts.maxGpus),
  };
}

const limit = (n: number | null, f: (n: number) => string = String) => (n === null ? '-' : f(n));
const QUOTA_HEADERS = ['MAX SANDBOXES', 'MAX MEMORY', 'MAX DISK', 'MAX GPUS', 'MAX SNAPSHOTS'];
const quotaCells = (u: UserT) => [
  limit(u.quota.maxSandboxes),
  limit(u.quota.maxMemoryMb, (n) => `${n}MB`),
  limit(u.quota.maxDiskMb, formatMb),
  limit(u.quota.maxGpus),
  limit(u.quota.maxSnapshotBytes, bytes),
];

export function register(program: Command): void {
  const user = program.command('user').description('manage users and their API keys (admin)');
  withQuotaFlags(user.command('create').description('create a user and print its API key (shown once)').requiredOption('--name <name>', 'user name')).action(
    action(async (ctx, opts: QuotaFlags & { name: string }) => {
      const r = await ctx.api.call('createUser', { body: { name: opts.name, quota: quotaBody(opts) } });
      if (ctx.json) return printJson(r);
      process.stdout.write(`${r.key}\n`);
      process.stderr.write(`user ${r.user.name} created; the key above is shown once. On their machine: bothub setup --url URL --token KEY\n`);
    }),
  );
  withQuotaFlags(
    user
      .command('quota')
      .description("show a user's quota, or change the limits given (none removes one; sandboxes already past a lowered limit keep running)")
      .argument('<name>'),
  ).action(
    action(async (ctx, name: string, opts: QuotaFlags) => {
      const body = quotaBody(opts);
      const changed = Object.values(body).some((v) => v !== undefined);
      const u = changed ? await ctx.api.call('setUserQuota', { params: { name }, body }) : (await ctx.api.call('listUsers')).find((x) => x.name === name);
      if (!u) throw new BothubError('NOT_FOUND', `no user named "${name}"; see \`bothub user list\``);
      if (ctx.json) return printJson(u);
      process.stdout.write(table(['NAME', ...QUOTA_HEADERS], [[u.name, ...quotaCells(u)]]));
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
        process.stdout.write(table(['NAME', 'ROLE', ...QUOTA_HEADERS, 'CREATED'], users.map((u) => [u.name, u.admin ? 'admin' : 'user', ...quotaCells(u), ago(u.createdAt)])));
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
