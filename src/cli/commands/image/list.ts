import type { Command } from 'commander';
import { ago, bytes, printJson, table } from '../../output/format.js';
import { action } from '../../runner.js';

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
    .command('rm')
    .description('remove an image (refused while a sandbox uses it)')
    .argument('<name>')
    .action(
      action(async (ctx, name: string) => {
        await ctx.api.call('removeImage', { params: { name } });
        ctx.json ? printJson({ name, removed: true }) : process.stdout.write(`${name}\n`);
      }),
    );
}
