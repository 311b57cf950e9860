import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { BothubError } from '../../../core/index.js';
import type { ImageT } from '../../../api/index.js';
import { bytes, printJson } from '../../output/format.js';
import { progressPrinter } from '../../output/progress.js';
import { action } from '../../runner.js';

/**
 * The daemon may be on another machine, so the CLI sends the image as a tar
 * stream: a directory is packed on the fly, an archive is sent as it is.
 */
async function archiveStream(path: string): Promise<Readable> {
  const st = await stat(path).catch(() => {
    throw new BothubError('INVALID_INPUT', `${path} does not exist; give a rootfs directory, a rootfs tarball or a \`docker save\` archive`);
  });
  if (st.isFile()) return createReadStream(path);
  if (!st.isDirectory()) throw new BothubError('INVALID_INPUT', `${path} is neither a directory nor a file`);
  const tar = spawn('tar', ['-C', path, '--numeric-owner', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return tar.stdout;
}

export function register(image: Command): void {
  image
    .command('import')
    .description('import a rootfs directory, a rootfs tarball or a `docker save` archive')
    .argument('<path>')
    .requiredOption('--name <name>', 'image name')
    .action(
      action(async (ctx, path: string, opts: { name: string }) => {
        const body = Readable.toWeb(await archiveStream(path)) as unknown as BodyInit;
        const progress = progressPrinter(opts.name);
        const img = await ctx.api.progress<ImageT>('importImage', { query: { name: opts.name }, rawBody: body }, progress.update);
        if (ctx.json) return printJson(img);
        progress.done(`image ${img.name} imported (${img.source}, ${bytes(img.sizeBytes)})`);
      }),
    );
}
