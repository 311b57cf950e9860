import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { LogsQuery } from '../../../api/index.js';
import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';
import { actorOf } from '../auth.js';

const DEFAULT_LIMIT = 1024 * 1024;

export function logHandlers(ctx: DaemonContext): Pick<Handlers, 'logs'> {
  return {
    logs: async (req: FastifyRequest, reply: FastifyReply) => {
      const { name } = req.params as { name: string };
      const q = req.query as Static<typeof LogsQuery>;
      const actor = actorOf(req);
      const { row } = await ctx.sandboxes.require(name, 'logs', actor);
      if (row.status === 'running') await ctx.thermal.ready(name, 'logs', actor);
      const paths = ctx.runtime.paths(row.id);
      await ctx.logs.enforceCap(paths);
      if (!q.follow) {
        const chunk = await ctx.logs.read(paths, q.offset ?? 0, q.limit ?? DEFAULT_LIMIT);
        return reply.header('x-bothub-offset', String(chunk.start)).header('x-bothub-next-offset', String(chunk.next)).type('application/octet-stream').send(chunk.data);
      }
      const abort = new AbortController();
      reply.raw.on('close', () => abort.abort());
      // Following the log is activity: the sandbox stays hot while someone watches.
      const keepAlive = setInterval(() => ctx.thermal.touch(row.id), 1000);
      abort.signal.addEventListener('abort', () => clearInterval(keepAlive));
      const chunks = ctx.logs.follow(paths, q.offset ?? 0, async () => (await ctx.sandboxes.get(name, actor).catch(() => undefined))?.status === 'running', abort.signal);
      const first = await chunks.next();
      reply.hijack();
      const start = first.done ? (await ctx.logs.read(paths, q.offset ?? 0, 0)).start : first.value.start;
      reply.raw.writeHead(200, { 'content-type': 'application/octet-stream', 'x-bothub-offset': String(start), 'cache-control': 'no-cache' });
      if (!first.done) {
        reply.raw.write(first.value.data);
        for await (const chunk of chunks) reply.raw.write(chunk.data);
      }
      clearInterval(keepAlive);
      reply.raw.end();
    },
  };
}
