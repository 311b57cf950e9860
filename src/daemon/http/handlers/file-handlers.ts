import type { Readable } from 'node:stream';
import { BothubError } from '../../../core/index.js';
import type { DaemonContext } from '../../context.js';
import { actorOf } from '../auth.js';
import type { Handlers } from '../register-routes.js';

type FileRoutes = 'statFile' | 'listFiles' | 'readFile' | 'writeFile' | 'getArchive' | 'putArchive';

const bodyOf = (body: unknown): Readable => {
  if (!body) throw new BothubError('INVALID_INPUT', 'send the content as the request body (application/octet-stream)');
  return body as Readable;
};

export function fileHandlers(ctx: DaemonContext): Pick<Handlers, FileRoutes> {
  return {
    statFile: ({ actor, params, query }) => ctx.files.stat(params.name, query.path, actor),
    listFiles: ({ actor, params, query }) => ctx.files.list(params.name, query.path, actor),
    readFile: async (req, reply) => {
      const { name } = req.params as { name: string };
      const q = req.query as { path: string; offset?: number; length?: number };
      const { data, size } = await ctx.files.read(name, q.path, q.offset ?? 0, q.length, actorOf(req));
      return void reply.header('x-bothub-file-size', String(size)).type('application/octet-stream').send(data);
    },
    writeFile: async (req, reply) => {
      const { name } = req.params as { name: string };
      const q = req.query as { path: string; mode?: string };
      const stat = await ctx.files.write(name, q.path, q.mode ?? '0644', bodyOf(req.body), actorOf(req));
      return void reply.code(201).send(stat);
    },
    getArchive: async (req, reply) => {
      const { name } = req.params as { name: string };
      const { path } = req.query as { path: string };
      const actor = actorOf(req);
      await ctx.files.stat(name, path, actor); // errors as JSON, before the stream starts
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/x-tar' });
      await ctx.files.archive(name, path, reply.raw, actor).catch((err) => {
        // Headers are gone: cut the stream, so the client sees a broken archive, never a short "complete" one.
        req.log.warn({ err }, 'archive stream failed');
        reply.raw.destroy();
      });
      reply.raw.end();
    },
    putArchive: async (req, reply) => {
      const { name } = req.params as { name: string };
      const { path } = req.query as { path: string };
      await ctx.files.unpack(name, path, bodyOf(req.body), actorOf(req));
      return void reply.code(204).send();
    },
  };
}
