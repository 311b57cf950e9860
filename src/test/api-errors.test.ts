import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { routes } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

describe('bad input over HTTP and CLI', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  const post = (path: string, body: string) =>
    fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminKey}` }, body });

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
    const unknown = await fetch(`${t.url}/api/v1/nothing-here`, { headers: { authorization: `Bearer ${t.adminKey}` } });
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
    const down = await cli('http://127.0.0.1:1', ['list']);
    assert.equal(down.code, 69);
    assert.match(down.stderr, /cannot reach the bothub daemon at http:\/\/127\.0\.0\.1:1 .*start it with `bothub serve`/);
  });

  it('serves an OpenAPI document that covers every route of the table', async () => {
    const doc = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.match(doc.openapi, /^3\./);
    for (const r of Object.values(routes)) {
      const path = r.url.replace(/:(\w+)/g, '{$1}');
      assert.ok(doc.paths[path]?.[r.method.toLowerCase()], `${r.method} ${path} documented`);
    }
  });
});
