import type { DaemonContext } from '../../context.js';
import type { Handlers } from '../register-routes.js';

type FileRoutes = 'statFile' | 'listFiles' | 'readFile' | 'writeFile' | 'getArchive' | 'putArchive';

export function fileHandlers(ctx: DaemonContext): Pick<Handlers, FileRoutes> {
  return {
    statFile: ({ actor, params, query }) => ctx.files.stat(params.name, query.path, actor),
    listFiles: ({ actor, params, query }) => ctx.files.list(params.name, query.path, actor),
    readFile: async ({ actor, params: { name }, query: q }, reply) => {
      const { data, size } = await ctx.files.read(name, q.path, q.offset ?? 0, q.length, actor);
      return void reply.header('x-bothub-file-size', String(size)).type('application/octet-stream').send(data);
    },
    writeFile: async ({ actor, params: { name }, query: q, body }, reply) => {
      const stat = await ctx.files.write(name, q.path, q.mode ?? '0644', body, actor);
      return void reply.code(201).send(stat);
    },
    getArchive: async ({ actor, params: { name }, query: { path }, raw }, reply) => {
      await ctx.files.stat(name, path, actor); // errors as JSON, before the stream starts
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/x-tar' });
      await ctx.files.archive(name, path, reply.raw, actor).catch((err) => {
        // Headers are gone: cut the stream, so the client sees a broken archive, never a short "complete" one.
        raw.log.warn({ err }, 'archive stream failed');
        reply.raw.destroy();
      });
      reply.raw.end();
    },
    putArchive: async ({ actor, params: { name }, query: { path }, body }, reply) => {
      await ctx.files.unpack(name, path, body, actor);
      return void reply.code(204).send();
    },
  };
}
