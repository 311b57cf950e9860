import type { Command } from 'commander';
import { ago, bytes, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';
import { removeCommand } from '../remove-command.js';

export function register(image: Command): void {
  image
    .command('list')
    .alias('ls')
    .description('list images')
    .action(
      action(async (ctx) => {
        const images = await ctx.api.call('listImages');
        if (ctx.json) return printJson(images);
        process.stdout.write(
          table(
            ['NAME', 'SOURCE', 'SIZE', 'CREATED'],
            images.map((i) => [i.name, i.source, bytes(i.sizeBytes), ago(i.createdAt)]),
          ),
        );
      }),
    );
  image
    .command('inspect')
    .description("show an image: where it came from, its layers, and its config (entrypoint, cmd, env, working dir, user)")
    .argument('<name>')
    .action(action(async (ctx, name: string) => printJson(await ctx.api.call('getImage', { params: { name } }))));
  removeCommand(image, 'rm', 'remove an image (refused while a sandbox uses it)', (ctx, name) => ctx.api.call('removeImage', { params: { name } }));
}
