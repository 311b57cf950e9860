import type { Command } from 'commander';
import { BothubError } from '../../../core/index.js';
import { ago, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { removeCommand } from '../remove-command.js';

/** A value piped in on stdin, without a trailing newline (shared with `registry login --password-stdin`). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('value (end with Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(Buffer.from(c as Buffer));
  // A trailing newline from `echo` is not part of the secret.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function register(program: Command): void {
  const secret = program.command('secret').description('secrets for sandboxes: sealed at rest, exposed as environment variables');
  secret
    .command('set')
    .description('set a secret; the value is read from stdin, never from the command line')
    .argument('<name>', 'an environment variable name')
    .action(
      action(async (ctx, name: string) => {
        const value = await readStdin();
        if (!value) throw new BothubError('INVALID_INPUT', 'no value on stdin; pipe it in, e.g. `printf %s "$TOKEN" | bothub secret set NAME`');
        const s = await ctx.api.call('setSecret', { params: { name }, body: { value } });
        if (ctx.json) printJson(s);
        else process.stdout.write(`${s.name}\n`);
      }),
    );
  secret
    .command('list')
    .alias('ls')
    .description('list your secrets (names only)')
    .action(
      action(async (ctx) => {
        const list = await ctx.api.call('listSecrets');
        if (ctx.json) return printJson(list);
        process.stdout.write(
          table(
            ['NAME', 'UPDATED'],
            list.map((s) => [s.name, ago(s.updatedAt)]),
          ),
        );
      }),
    );
  removeCommand(secret, 'rm', 'remove a secret', (ctx, name) => ctx.api.call('removeSecret', { params: { name } }));
}
