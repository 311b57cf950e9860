import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseReference } from '../../../runtime/index.js';
import type { DaemonContext } from '../../context.js';
import { streamOperation } from '../ndjson.js';
import type { Handlers } from '../register-routes.js';

type TransferRoutes = 'pullImage' | 'saveImage' | 'pushImage' | 'exportImage';

/** Images in and out: pull from and push to registries with the caller's logins, save a sandbox, export an OCI archive. */
export function imageTransferHandlers(ctx: DaemonContext): Pick<Handlers, TransferRoutes> {
  return {
    pullImage: async ({ actor, body }, reply) => {
      // Parsed before the stream starts, so a bad reference is a plain 400.
      const ref = parseReference(body.reference);
      const credentials = await ctx.registries.for(actor, ref.host);
      await streamOperation(reply, (onProgress, signal) =>
        ctx.images.pull(body.reference, { name: body.name, credentials, owner: actor.admin ? null : actor.id }, { onProgress, signal }),
      );
    },
    saveImage: async ({ actor, params: { name }, body }, reply) => {
      await ctx.sandboxes.row(name, actor);
      await streamOperation(reply, (onProgress, signal) => ctx.imageSaves.save(name, body.name, actor, { onProgress, signal }));
    },
    pushImage: async ({ actor, params: { name }, body }, reply) => {
      await ctx.images.requireFor(name, actor);
      const credentials = await ctx.registries.for(actor, parseReference(body.reference).host);
      await streamOperation(reply, (onProgress, signal) => ctx.images.push(name, body.reference, credentials, { onProgress, signal }));
    },
    exportImage: async ({ actor, params: { name } }, reply) => {
      await ctx.images.requireFor(name, actor);
      const dir = await mkdtemp(join(ctx.images.oci.tmp, 'export-'));
      const file = join(dir, 'image.tar');
      try {
        await ctx.images.exportArchive(name, file);
      } catch (e) {
        await rm(dir, { recursive: true, force: true });
        throw e;
      }
      const stream = createReadStream(file);
      // The archive is deleted once sent (or the client went away).
      stream.on('close', () => void rm(dir, { recursive: true, force: true }));
      await reply.type('application/x-tar').header('content-disposition', `attachment; filename="${name}.tar"`).send(stream);
    },
  };
}
