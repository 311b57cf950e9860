import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { BothubError } from '../../../core/index.js';
import type { ImageT, PushResultT } from '../../../api/index.js';
import { bytes, printJson } from '../../output/format.js';
import { progressPrinter } from '../../output/progress.js';
import { action } from '../../runner.js';

/** `image pull`, `image save`, `image push`, `image export`: images in and out of registries, sandboxes and files. */
export function register(image: Command): void {
  image
    .command('pull')
    .description('pull an image from an OCI or Docker registry (short names are Docker Hub); uses your `registry login` for its host')
    .argument('<reference>', '[HOST/]NAME[:TAG][@sha256:DIGEST]')
    .option('--name <name>', 'image name here (default: from the reference)')
    .action(
      action(async (ctx, reference: string, opts: { name?: string }) => {
        const progress = progressPrinter(reference);
        const img = await ctx.api.progress<ImageT>('pullImage', { body: { reference, name: opts.name } }, progress.update);
        if (ctx.json) return printJson(img);
        progress.done(`image ${img.name} pulled (${img.digest}, ${bytes(img.sizeBytes)})`);
      }),
    );
  image
    .command('save')
    .description("save a sandbox's files as a new image (its writable layer on top of its image); a running sandbox is frozen for the copy")
    .argument('<sandbox>')
    .requiredOption('--name <name>', 'name of the new image')
    .action(
      action(async (ctx, sandbox: string, opts: { name: string }) => {
        const progress = progressPrinter(opts.name);
        const img = await ctx.api.progress<ImageT>('saveImage', { params: { name: sandbox }, body: { name: opts.name } }, progress.update);
        if (ctx.json) return printJson(img);
        progress.done(`image ${img.name} saved from ${sandbox} (${bytes(img.sizeBytes)} in ${img.layers?.length ?? 1} layers)`);
      }),
    );
  image
    .command('push')
    .description('push an image to a registry; uses your `registry login` for its host')
    .argument('<image>')
    .argument('<reference>', 'HOST/NAME[:TAG]')
    .action(
      action(async (ctx, name: string, reference: string) => {
        const progress = progressPrinter(name);
        const r = await ctx.api.progress<PushResultT>('pushImage', { params: { name }, body: { reference } }, progress.update);
        if (ctx.json) return printJson(r);
        progress.done(`pushed ${r.reference} (${r.digest})`);
        process.stdout.write(`${r.digest}\n`);
      }),
    );
  image
    .command('export')
    .description('write an image as an OCI archive (import it with `image import FILE`, or `skopeo copy oci-archive:FILE …`)')
    .argument('<image>')
    .argument('<file>')
    .action(
      action(async (ctx, name: string, file: string) => {
        const res = await ctx.api.fetch('exportImage', { params: { name } });
        if (!res.body) throw new BothubError('INTERNAL', 'the daemon sent no archive');
        const partial = `${file}.partial`;
        try {
          await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(partial));
          await rename(partial, file);
        } catch (e) {
          await rm(partial, { force: true });
          throw e;
        }
        if (!ctx.json) process.stderr.write(`image ${name} exported to ${file}\n`);
      }),
    );
}
