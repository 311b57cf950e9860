import { BothubError } from '../../../core/index.js';
import { DEBIAN_IMAGE } from '../../../runtime/index.js';
import type { DaemonContext } from '../../context.js';
import { streamOperation } from '../ndjson.js';
import type { Handlers } from '../register-routes.js';

type ImageRoutes = 'listImages' | 'getImage' | 'buildImage' | 'importImage' | 'removeImage';

export function imageHandlers(ctx: DaemonContext): Pick<Handlers, ImageRoutes> {
  return {
    listImages: ({ actor }) => ctx.images.listFor(actor),
    getImage: ({ actor, params }) => ctx.images.requireFor(params.name, actor, false),
    buildImage: async ({ params: { name } }, reply) => {
      if (name !== DEBIAN_IMAGE)
        throw new BothubError('INVALID_INPUT', `only the default image "${DEBIAN_IMAGE}" is built here; import others (\`POST /api/v1/images?name=${name}\` with the tarball as the body)`);
      await streamOperation(reply, (onProgress, signal) => ctx.images.ensureDebian({ onProgress, signal }));
    },
    importImage: async ({ actor, query: { name }, body }, reply) => {
      await streamOperation(reply, (onProgress, signal) => ctx.images.importArchive(name, body, { onProgress, signal }, actor.admin ? null : actor.id));
    },
    removeImage: async ({ actor, params }) => {
      const image = await ctx.images.requireFor(params.name, actor, false);
      if (!image.owner && !actor.admin) throw new BothubError('FORBIDDEN', `image "${params.name}" is shared; only the admin may remove it`);
      const users = await ctx.imageUsers(params.name);
      if (users.sandboxes.length)
        throw new BothubError('IN_USE', `image "${params.name}" is used by sandbox ${users.sandboxes.join(', ')}; destroy ${users.sandboxes.length > 1 ? 'them' : 'it'} first`);
      if (users.snapshots.length)
        throw new BothubError(
          'IN_USE',
          `image "${params.name}" is under snapshot ${users.snapshots.join(', ')}, whose restore needs it; delete ${users.snapshots.length > 1 ? 'them' : 'it'} first (\`DELETE /api/v1/snapshots/SNAP\`)`,
        );
      // Their archives in the snapshot store go with the last image that used the layers.
      if (ctx.sharedImages) await ctx.sharedImages.remove(params.name);
      else await ctx.snapshots.chunks.layers.forget(await ctx.images.remove(params.name));
    },
  };
}
