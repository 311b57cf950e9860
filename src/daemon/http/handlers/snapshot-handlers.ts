import type { Static } from 'typebox';
import type { CreateSnapshot, RestoreSnapshot } from '../../../api/index.js';
import type { DaemonContext } from '../../context.js';
import { streamOperation } from '../ndjson.js';
import type { Handlers } from '../register-routes.js';

type SnapshotRoutes = 'createSnapshot' | 'listSnapshots' | 'getSnapshot' | 'deleteSnapshot' | 'restoreSnapshot' | 'doctor';

export function snapshotHandlers(ctx: DaemonContext): Pick<Handlers, SnapshotRoutes> {
  return {
    createSnapshot: async (req, reply) => {
      const { name } = req.params as { name: string };
      const body = req.body as Static<typeof CreateSnapshot>;
      await streamOperation(reply, (onProgress, signal) => ctx.snapshots.create(name, body, { onProgress, signal }));
    },
    listSnapshots: ({ query }) => ctx.snapshots.list(query.sandbox),
    getSnapshot: ({ params }) => ctx.snapshots.get(params.name),
    deleteSnapshot: ({ params }) => ctx.snapshots.delete(params.name),
    restoreSnapshot: async (req, reply) => {
      const { name } = req.params as { name: string };
      const body = req.body as Static<typeof RestoreSnapshot>;
      await streamOperation(reply, (onProgress, signal) => ctx.snapshots.restore(name, body, { onProgress, signal }));
    },
    doctor: () => ctx.doctor(),
  };
}
