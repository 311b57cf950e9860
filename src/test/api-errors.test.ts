import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { routes, type RouteDef } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';
import { toErrorBody } from '../daemon/http/errors.js';

// In-process (Fastify's inject) against a daemon on the fake runtime: what is checked here is
// what the API answers, not what a sandbox does. Bad input on sockets: socket-input.test.ts.

describe('bad input over HTTP and CLI', () => {
  let t: InjectDaemon;
  before(async () => {
    t = await startInjectDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  const post = (path: string, body: string) => t.request(path, { method: 'POST', token: t.adminKey, headers: { 'content-type': 'application/json' }, body });

  it('answers 4xx with one error shape and a message that says what to do', async () => {
    const cases: [string, string, number, RegExp][] = [
      ['/api/v1/sandboxes', '{"name": "Bad_Name"}', 400, /invalid name: use 1-48 lowercase/],
      ['/api/v1/sandboxes', '{"image": "no-such-image"}', 404, /no image named "no-such-image"/],
      ['/api/v1/sandboxes', '{"memoryMb": -5}', 400, /memoryMb must be >= 16/],
      ['/api/v1/sandboxes', '{"memoryMb": 99999999}', 400, /memoryMb/],
      ['/api/v1/sandboxes', '{"memoryMb": 16000000}', 400, /more than this host has/],
      ['/api/v1/sandboxes', '{"cpus": 0}', 400, /cpus/],
      ['/api/v1/sandboxes', '{"cpus": 512}', 400, /more than this host has/],
      ['/api/v1/sandboxes', '{bad json', 400, /not valid JSON/],
      ['/api/v1/sandboxes', '{"nmae": "typo"}', 400, /additional properties/],
      ['/api/v1/sandboxes', '[]', 400, /must be object/],
      ['/api/v1/sandboxes/nope/exec', '{"command": ["true"]}', 404, /no sandbox named "nope"/],
      ['/api/v1/sandboxes/nope/exec', '{"command": []}', 400, /fewer than 1/],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await post(path, body);
      const reply = (await res.json()) as { statusCode: number; code: string; message: string };
      assert.equal(res.status, status, `${body} → ${reply.message}`);
      assert.equal(reply.statusCode, status);
      assert.match(reply.message, message);
      assert.ok(!reply.message.includes('\n'), 'one line');
    }
    const unknown = await t.request('/api/v1/nothing-here', { token: t.adminKey });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'NOT_FOUND');
  });

  it('leaves nothing half-created after refused or failed creates', async () => {
    await t.api.call('createSandbox', { body: { name: 'taken' } });
    const dup = await post('/api/v1/sandboxes', '{"name": "taken"}');
    assert.equal(dup.status, 409);
    assert.match(((await dup.json()) as { message: string }).message, /already exists/);
    const sandboxes = await t.api.call('listSandboxes');
    assert.deepEqual(
      sandboxes.map((s) => s.name),
      ['taken'],
    );
    assert.equal(readdirSync(`${t.config.dataDir}/sandboxes`).length, 1, 'only one sandbox directory');
    await t.api.call('destroySandbox', { params: { name: 'taken' } });
  });

  it('CLI errors are one line on stderr with a non-zero exit code', async () => {
    const cases: [string[], number, RegExp][] = [
      [['inspect', 'ghost'], 3, /^bothub: no sandbox named "ghost"; see `bothub list`\n$/],
      [['create', '--name', 'UPPER'], 2, /^bothub: invalid name/],
      [['create', '--image', 'nope'], 3, /^bothub: no image named "nope"/],
      [['create', '--memory', '-5'], 2, /^bothub: invalid request: body\/memoryMb must be >= 16/],
      [['create', '--memory', 'lots'], 2, /^bothub: invalid --memory "lots": give a number\n$/],
      [['create', '--network', 'bridge'], 2, /^bothub: invalid --network "bridge"/],
      [['logs', 'ghost', '--offset', '-1'], 2, /^bothub: invalid --offset/],
    ];
    for (const [args, code, stderr] of cases) {
      const r = await cli(t.url, args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    // A code whose message speaks in API terms gets the CLI's own hint (src/cli/error-hints.ts).
    const badKey = await cli(t.url, ['list'], undefined, { BOTHUB_TOKEN: 'nope' });
    assert.equal(badKey.code, 77);
    assert.match(badKey.stderr, /^bothub: the API key is not valid; .*`Authorization: Bearer KEY`.*; pass --token or set BOTHUB_TOKEN, or run `bothub setup --url URL --token KEY`\n$/);
    const down = await cli('http://127.0.0.1:1', ['list']);
    assert.equal(down.code, 69);
    assert.match(down.stderr, /cannot reach the bothub daemon at http:\/\/127\.0\.0\.1:1 .*start it with `bothub serve`/);
  });

  it('serves an OpenAPI document that covers every route of the table', async () => {
    const doc = (await (await t.request('/api/v1/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    for (const r of Object.values(routes) as RouteDef[]) {
      const path = r.url.replace(/:(\w+)/g, '{$1}');
      assert.ok(doc.paths[path]?.[r.method.toLowerCase()], `${r.method} ${path} documented`);
      if (r.stream === 'websocket') {
        const messages = (doc.paths[path]?.get as { 'x-websocket'?: { server?: unknown; clientChannels?: unknown } })['x-websocket'];
        assert.ok(messages?.server && messages.clientChannels, `${path}: its socket messages documented`);
      }
    }
  });

  it('a NUL byte in an exec argument, environment, workdir or path: 400 INVALID_INPUT that names the field; the same for a spawn refusing one', async () => {
    await t.api.call('createSandbox', { body: { name: 'box' } });
    const nul = 'a\u0000b';
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/api/v1/sandboxes/box/exec', { command: ['echo', nul] }, /^invalid request: body\/command\/1 must not contain a NUL byte \(\\0\)/],
      ['POST', '/api/v1/sandboxes/box/exec', { command: ['env'], env: { A: nul } }, /body\/env\/A must not contain a NUL byte/],
      ['POST', '/api/v1/sandboxes/box/exec', { command: ['pwd'], workdir: `/tmp/${nul}` }, /body\/workdir must be an absolute path \(starting with \/\) with no NUL byte/],
      ['POST', '/api/v1/sandboxes/box/execs', { command: [nul] }, /body\/command\/0 must not contain a NUL byte/],
      ['POST', '/api/v1/sandboxes', { name: 'nul-box', command: ['sleep', nul] }, /body\/command\/1 must not contain a NUL byte/],
      ['PUT', '/api/v1/secrets/NUL_SECRET', { value: nul }, /body\/value must not contain a NUL byte/],
      ['GET', `/api/v1/sandboxes/box/files/stat?path=/tmp/a%00b`, undefined, /querystring\/path must be an absolute path/],
      ['GET', `/api/v1/sandboxes/box/archive?path=/tmp/a%00b`, undefined, /querystring\/path must be an absolute path/],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await t.request(path, {
        method,
        token: t.adminKey,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const reply = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 400, `${path}: ${reply.message}`);
      assert.equal(reply.code, 'INVALID_INPUT');
      assert.match(reply.message, message);
    }
    // The net under the schemas: node's own refusal of a NUL in a spawn is the caller's input, not a 500.
    let spawnError: unknown;
    try {
      spawn('true', [nul]);
    } catch (e) {
      spawnError = e;
    }
    const mapped = toErrorBody(spawnError, 'req-1');
    assert.deepEqual([mapped.statusCode, mapped.code], [400, 'INVALID_INPUT']);
    assert.match(mapped.message, /NUL byte/);
  });
});
