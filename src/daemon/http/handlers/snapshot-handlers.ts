import type { DaemonContext } from '../../context.js';
import { LOCAL } from '../../services/sandbox-service.js';
import { streamOperation } from '../ndjson.js';
import type { Handlers } from '../register-routes.js';

type SnapshotRoutes = 'createSnapshot' | 'listSnapshots' | 'getSnapshot' | 'deleteSnapshot' | 'restoreSnapshot' | 'doctor' | 'doctorConsistency';

export function snapshotHandlers(ctx: DaemonContext): Pick<Handlers, SnapshotRoutes> {
  return {
    createSnapshot: async ({ actor, params: { name }, body }, reply) => {
      // Checked before the stream starts, so a missing sandbox is a plain 404, not a 200 with an error line.
      // One on a fleet host is woken by its agent, which takes the snapshot (control planes only: forward-to-agent.ts).
      const { row } = await ctx.sandboxes.require(name, 'snapshot', actor);
      if (row.host === LOCAL) await ctx.thermal.ready(name, 'snapshot', actor, row);
      await streamOperation(reply, (onProgress, signal) => ctx.snapshots.create(name, body, actor, { onProgress, signal }));
    },
    listSnapshots: ({ actor, query }) => ctx.snapshots.list(actor, query.sandbox),
    getSnapshot: ({ actor, params }) => ctx.snapshots.get(params.name, actor),
    deleteSnapshot: ({ actor, params }) => ctx.snapshots.delete(params.name, actor),
    restoreSnapshot: async ({ actor, params: { name }, body }, reply) => {
      // One here is copied to the host asked for; one a fleet host keeps is restored there, or copied from there (host-snapshots.ts).
      const snap = await ctx.snapshots.row(name, actor);
      const elsewhere = snap.host === LOCAL && body.host && body.host !== LOCAL ? { ...body, host: body.host } : undefined;
      // A host that does not exist is a plain 404, before the stream starts.
      if (body.host && body.host !== LOCAL && body.host !== snap.host) await ctx.hosts.get(body.host);
      await streamOperation(reply, (onProgress, signal) =>
        elsewhere ? ctx.moves.restoreSnapshotOn(name, elsewhere, actor, { onProgress, signal }) : ctx.snapshots.restore(name, body, actor, { onProgress, signal }),
      );
    },
    doctor: () => ctx.doctor(),
    doctorConsistency: ({ query }) => ctx.consistency({ deep: query.deep }),
  };
}
