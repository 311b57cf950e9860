import type { FastifyReply } from 'fastify';
import type { QueryOf } from '../../../api/index.js';
import type { DaemonContext } from '../../context.js';
import type { LogSource } from '../../services/console-logs.js';
import type { Handlers } from '../register-routes.js';

const DEFAULT_LIMIT = 1024 * 1024;

/**
 * Sends a log from a byte offset: one read (with the next offset in a
 * header), or, with follow, everything new until `alive` says the writer is gone.
 */
async function sendLog(ctx: DaemonContext, reply: FastifyReply, src: LogSource, q: QueryOf<'logs'>, sandboxId: string, alive: () => Promise<boolean>): Promise<void> {
  if (!q.follow) {
    const chunk = await ctx.logs.read(src, q.offset ?? 0, q.limit ?? DEFAULT_LIMIT);
    return void reply.header('x-bothub-offset', String(chunk.start)).header('x-bothub-next-offset', String(chunk.next)).type('application/octet-stream').send(chunk.data);
  }
  const abort = new AbortController();
  reply.raw.on('close', () => abort.abort());
  // Following a log is activity: the sandbox stays hot while someone watches.
  const keepAlive = setInterval(() => ctx.thermal.touch(sandboxId), 1000);
  abort.signal.addEventListener('abort', () => clearInterval(keepAlive));
  const chunks = ctx.logs.follow(src, q.offset ?? 0, alive, abort.signal);
  const first = await chunks.next();
  reply.hijack();
  const start = first.done ? (await ctx.logs.read(src, q.offset ?? 0, 0)).start : first.value.start;
  reply.raw.writeHead(200, { 'content-type': 'application/octet-stream', 'x-bothub-offset': String(start), 'cache-control': 'no-cache' });
  if (!first.done) {
    reply.raw.write(first.value.data);
    for await (const chunk of chunks) reply.raw.write(chunk.data);
  }
  clearInterval(keepAlive);
  reply.raw.end();
}

export function logHandlers(ctx: DaemonContext): Pick<Handlers, 'logs' | 'execLogs'> {
  return {
    logs: async ({ actor, params: { name }, query }, reply) => {
      const { row } = await ctx.sandboxes.require(name, 'logs', actor);
      if (row.status === 'running') await ctx.thermal.ready(name, 'logs', actor);
      await ctx.logs.enforceCap(row.id);
      const alive = async () => (await ctx.sandboxes.get(name, actor).catch(() => undefined))?.status === 'running';
      await sendLog(ctx, reply, ctx.logs.console(row.id), query, row.id, alive);
    },
    execLogs: async ({ actor, params: { name, id }, query }, reply) => {
      const { row } = await ctx.sandboxes.require(name, 'logs', actor);
      await ctx.exec.record(name, id, actor); // 404 for an id that is not this sandbox's
      const alive = async () => (await ctx.exec.record(name, id, actor).catch(() => undefined))?.status === 'running';
      await sendLog(ctx, reply, ctx.logs.exec(row.id, id), query, row.id, alive);
    },
  };
}
