import type { TSchema } from 'typebox';
import { ERROR_CODES } from '../../core/index.js';
import * as S from '../../api/index.js';
import { routes, type RouteDef, type StreamRouteName } from '../../api/index.js';

/**
 * What @fastify/swagger cannot see in the route table: the bodies and replies
 * of streaming routes (bytes, NDJSON progress, uploads, WebSockets) and the
 * error code registry. `completeOpenApi` adds them to the generated document
 * so clients in other languages can be generated from it alone.
 */

type Doc = { paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, unknown> } & Record<string, unknown> } & Record<string, unknown>;
type Operation = { responses?: Record<string, unknown>; requestBody?: unknown } & Record<string, unknown>;

const binary = { type: 'string', format: 'binary' };
const header = (description: string) => ({ description, schema: { type: 'integer' } });
const LOG_HEADERS = {
  'X-Bothub-Offset': header('Where the bytes start (later than asked when the log was trimmed).'),
  'X-Bothub-Next-Offset': header('Where to read next; absent when following.'),
};
const ERROR_REF = { $ref: '#/components/schemas/ErrorReply' };

/** A stream route's reply (and body), by route: the table says the kind, this says the content. */
interface StreamDoc {
  /** Content types of the 2xx reply, each with its schema (binary for bytes). */
  reply?: { status: number; types: string[]; schema?: TSchema; headers?: Record<string, unknown> };
  /** NDJSON operations: the schema of the last line's `result`. */
  result?: TSchema;
  /** Uploads: content types the body may have. */
  upload?: string[];
}

const STREAMS: Record<StreamRouteName, StreamDoc> = {
  execStream: {},
  eventsStream: {},
  sandboxStatsStream: {},
  attachExec: {},
  logs: { reply: { status: 200, types: ['application/octet-stream'], headers: LOG_HEADERS } },
  execLogs: { reply: { status: 200, types: ['application/octet-stream'], headers: LOG_HEADERS } },
  readFile: { reply: { status: 200, types: ['application/octet-stream'], headers: { 'X-Bothub-File-Size': header('The whole file’s size.') } } },
  writeFile: { upload: ['application/octet-stream'], reply: { status: 201, types: ['application/json'], schema: S.FileStat } },
  getArchive: { reply: { status: 200, types: ['application/x-tar'] } },
  putArchive: { upload: ['application/x-tar', 'application/octet-stream'], reply: { status: 204, types: [] } },
  createSnapshot: { result: S.Snapshot },
  restoreSnapshot: { result: S.Sandbox },
  moveSandbox: { result: S.MoveResult },
  buildImage: { result: S.Image },
  importImage: { upload: ['application/x-tar', 'application/octet-stream'], result: S.Image },
  pullImage: { result: S.Image },
  saveImage: { result: S.Image },
  pushImage: { result: S.PushResult },
  exportImage: { reply: { status: 200, types: ['application/x-tar'] } },
  rentHost: { result: S.Rental },
  releaseHost: { result: S.Rental },
  placeSandbox: { result: S.Sandbox },
};

/** One line of an NDJSON progress stream. */
const ndjsonLine = (result: TSchema) => ({
  description: 'One JSON object per line: any number of {"progress"}, then one {"result"} or {"error"}. The status is 200 once the stream starts.',
  oneOf: [
    { type: 'object', required: ['progress'], properties: { progress: S.ProgressEvent } },
    { type: 'object', required: ['result'], properties: { result } },
    { type: 'object', required: ['error'], properties: { error: ERROR_REF } },
  ],
});

/** The upgrade; the messages, both ways, are the operation's `x-websocket` (the route's `socket` in the table). */
const WEBSOCKET = {
  description:
    'Upgrade to a WebSocket (101). Binary messages: one channel byte (0 stdin from the client; 1 stdout, 2 stderr from the daemon) then the bytes. Text messages: JSON, as the operation\'s x-websocket says.',
};

function streamResponses(key: StreamRouteName, route: RouteDef, op: Operation): void {
  const d = STREAMS[key];
  const responses = (op.responses ??= {});
  if (route.stream === 'websocket') {
    responses['101'] = WEBSOCKET;
  } else if (d.result) {
    responses['200'] = { description: 'NDJSON progress, then the result.', content: { 'application/x-ndjson': { schema: ndjsonLine(d.result) } } };
  } else if (d.reply) {
    const { status, types, schema, headers } = d.reply;
    responses[String(status)] = {
      description: status === 204 ? 'No content' : 'OK',
      ...(headers ? { headers } : {}),
      ...(types.length ? { content: Object.fromEntries(types.map((t) => [t, { schema: schema ?? binary }])) } : {}),
    };
  }
  if (d.upload) op.requestBody = { required: true, content: Object.fromEntries(d.upload.map((t) => [t, { schema: binary }])) };
}

/** Completes the document @fastify/swagger made from the route table (in place; returns it). */
export function completeOpenApi<T extends object>(generated: T): T {
  const doc = generated as unknown as Doc;
  const schemas = ((doc.components ??= {}).schemas ??= {});
  schemas.ErrorReply = S.ErrorReply;
  doc['x-bothub-error-codes'] = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, e]) => [code, { status: e.status, cliExit: e.exit, description: e.doc }]));
  for (const [key, route] of Object.entries(routes) as [keyof typeof routes, RouteDef][]) {
    const op = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
    if (!op) continue;
    for (const range of ['4XX', '5XX'])
      if (op.responses?.[range]) op.responses[range] = { description: 'An error of the registry (x-bothub-error-codes).', content: { 'application/json': { schema: ERROR_REF } } };
    if (route.stream) streamResponses(key as StreamRouteName, route, op);
  }
  return generated;
}
