import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { routes, type RouteDef } from '../api/index.js';
import { ERROR_CODES } from '../core/index.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';

type Json = Record<string, unknown>;
type Operation = { operationId: string; responses: Record<string, { content?: Record<string, unknown> } & Json>; requestBody?: { content: Record<string, unknown> } };

/** Every `$ref` in the document, so each can be checked to resolve. */
function refs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, found));
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else refs(v, found);
    }
  return found;
}

const STREAM_TYPES: Record<NonNullable<RouteDef['stream']>, RegExp> = {
  bytes: /^application\/(octet-stream|x-tar)$/,
  ndjson: /^application\/x-ndjson$/,
  upload: /^application\/(json|x-ndjson)$|^$/,
  websocket: /^$/,
};

describe('the OpenAPI document', () => {
  let t: InjectDaemon;
  let doc: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Json> } } & Json;
  before(async () => {
    t = await startInjectDaemon();
    const res = await t.request('/api/v1/openapi.json');
    assert.equal(res.status, 200);
    doc = (await res.json()) as typeof doc;
  });
  after(async () => {
    await t.cleanup();
  });

  it('has every route of the table, streaming ones with their content types', () => {
    for (const [key, route] of Object.entries(routes) as [string, RouteDef][]) {
      const op = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.url} is documented`);
      assert.equal(op.operationId, key);
      const ok = Object.entries(op.responses).filter(([status]) => /^[12]\d\d$/.test(status));
      assert.ok(ok.length > 0, `${key} documents its success reply`);
      const types = ok.flatMap(([, r]) => Object.keys(r.content ?? {}));
      if (!route.stream) {
        assert.ok(route.status === 204 || types.includes('application/json'), `${key} replies JSON`);
        continue;
      }
      if (route.stream === 'websocket') assert.ok(op.responses['101'], `${key} documents the upgrade`);
      if (route.stream === 'upload')
        assert.ok(
          Object.keys(op.requestBody?.content ?? {}).some((c) => /octet-stream|x-tar/.test(c)),
          `${key} documents its upload body`,
        );
      for (const type of types.length ? types : ['']) assert.match(type, STREAM_TYPES[route.stream], `${key} (${route.stream}) replies ${type}`);
    }
    const ws = doc.paths['/api/v1/sandboxes/{name}/exec/ws']?.get as unknown as { 'x-websocket': Json };
    assert.deepEqual(Object.keys(ws['x-websocket']).sort(), ['client', 'clientChannels', 'server', 'serverChannels', 'start']);
  });

  it('lists every error code, with its status, and every error reply refers to it', () => {
    const reply = doc.components.schemas.ErrorReply as { properties: { code: { enum: string[] } } };
    assert.deepEqual(reply.properties.code.enum, Object.keys(ERROR_CODES));
    const table = doc['x-bothub-error-codes'] as Record<string, { status: number }>;
    assert.deepEqual(Object.fromEntries(Object.entries(table).map(([c, e]) => [c, e.status])), Object.fromEntries(Object.entries(ERROR_CODES).map(([c, e]) => [c, e.status])));
    for (const route of Object.values(routes) as RouteDef[]) {
      const op = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      for (const range of ['4XX', '5XX']) assert.match(JSON.stringify(op?.responses[range]), /#\/components\/schemas\/ErrorReply/, `${route.method} ${route.url} ${range}`);
    }
  });

  it('resolves every reference', () => {
    for (const ref of refs(doc)) {
      const target = ref
        .replace(/^#\//, '')
        .split('/')
        .reduce<unknown>((node, part) => (node as Json | undefined)?.[part], doc);
      assert.ok(target, `${ref} resolves`);
    }
  });
});
