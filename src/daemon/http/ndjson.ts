import type { FastifyReply } from 'fastify';
import type { Progress } from '../../runtime/index.js';
import { toErrorBody } from './errors.js';

/**
 * Streams a long operation as NDJSON: {"progress":…} lines, then one
 * {"result":…} or {"error":…} line. The status is 200 once the stream starts.
 */
export async function streamOperation<T>(reply: FastifyReply, work: (onProgress: (p: Progress) => void, signal: AbortSignal) => Promise<T>): Promise<void> {
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  const line = (obj: unknown) => reply.raw.write(JSON.stringify(obj) + '\n');
  try {
    const result = await work((progress) => line({ progress }), abort.signal);
    line({ result });
  } catch (e) {
    const body = toErrorBody(e, reply.request.id);
    if (body.statusCode >= 500) reply.request.log.error({ err: e }, body.message);
    line({ error: body });
  }
  reply.raw.end();
}
