import type { Command } from 'commander';
import { BothubError } from '../../../core/errors.js'; // not the barrel: `bothub create` loads this file
import type { ImageT } from '../../../api/index.js';
import { bytes, printJson } from '../../output/format.js';
import { progressPrinter } from '../../output/progress.js';
import { action } from '../../runner.js';
import type { CliContext } from '../../context.js';

/** Builds the default image if it is missing, drawing progress: a first create needs it. */
export async function ensureDefaultImage(ctx: CliContext): Promise<ImageT> {
  try {
    return await ctx.api.call('getImage', { params: { name: 'debian' } });
  } catch (e) {
    if (!(e instanceof BothubError) || e.code !== 'NOT_FOUND') throw e;
  }
  process.stderr.write('building the default image "debian" (Debian 12 minbase; once, takes a few minutes)\n');
  const progress = progressPrinter('debian');
  const image = await ctx.api.progress<ImageT>('buildImage', { params: { name: 'debian' } }, progress.update);
  progress.done(`image debian ready (${bytes(image.sizeBytes)})`);
  return image;
}

export function register(image: Command): void {
  image
    .command('build')
    .description('build the default image "debian" now (it is also built on first need)')
    .argument('[name]', 'only "debian" can be built', 'debian')
    .action(
      action(async (ctx, name: string) => {
        if (name !== 'debian') throw new BothubError('INVALID_INPUT', `only "debian" can be built; bring other images with \`bothub image import PATH --name ${name}\``);
        const img = await ensureDefaultImage(ctx);
        if (ctx.json) printJson(img);
      }),
    );
}
