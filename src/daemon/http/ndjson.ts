import type { FastifyReply } from 'fastify';
import type { Progress } from '../../runtime/index.js';
import { logErrorReply, toErrorBody } from './errors.js';

/**
 * A stream silent this long repeats its last progress line. Some steps are
 * silent for minutes (installing CRIU on a newly rented machine), and HTTP
 * clients end a body that says nothing for a while (fetch's undici: 300 s).
 */
const KEEPALIVE_MS = 30_000;

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
  let lastWrite = Date.now();
  let lastProgress: Progress = { step: 'started' };
  const line = (obj: unknown) => {
    lastWrite = Date.now();
    reply.raw.write(JSON.stringify(obj) + '\n');
  };
  const keepAlive = setInterval(() => {
    if (Date.now() - lastWrite >= KEEPALIVE_MS) line({ progress: lastProgress });
  }, KEEPALIVE_MS);
  keepAlive.unref(); // the operation's own work keeps the process up, not this
  try {
    const result = await work((progress) => line({ progress: (lastProgress = progress) }), abort.signal);
    line({ result });
  } catch (e) {
    const body = toErrorBody(e, reply.request.id);
    logErrorReply(reply.request.log, e, body, 'operation refused');
    line({ error: body });
  } finally {
    clearInterval(keepAlive);
  }
  reply.raw.end();
}
