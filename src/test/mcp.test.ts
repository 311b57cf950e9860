import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { BOTHUB_BIN } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

/** What a tool answered: its text, and that text parsed when it is JSON. */
function answer(r: CallToolResult): { text: string; json: any; isError: boolean } {
  const first = r.content[0];
  const text = first?.type === 'text' ? first.text : '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { text, json, isError: r.isError === true };
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  return answer(await client.callTool({ name, arguments: args }));
}

/** Calls a tool that must succeed, and returns its JSON. */
async function ok(client: Client, name: string, args: Record<string, unknown>) {
  const r = await call(client, name, args);
  assert.equal(r.isError, false, `${name} failed: ${r.text}`);
  return r.json;
}

async function httpClient(t: TestDaemon, token: string): Promise<Client> {
  const client = new Client({ name: 'bothub-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', t.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

async function stdioClient(t: TestDaemon, token: string): Promise<Client> {
  const client = new Client({ name: 'bothub-test', version: '1.0.0' });
  const env = { ...getDefaultEnvironment(), BOTHUB_URL: t.url, BOTHUB_TOKEN: token };
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BOTHUB_BIN, 'mcp'], env, stderr: 'inherit' }));
  return client;
}

/**
 * What an agent that knows bothub only by its tool list does: create a
 * sandbox, run python in it, write and read a file, snapshot it and branch
 * the snapshot, and find the branch holding the file; then clean up.
 */
async function agentSession(client: Client, prefix: string): Promise<void> {
  const sb = await ok(client, 'create_sandbox', { name: `${prefix}-a` });
  assert.equal(sb.name, `${prefix}-a`);
  assert.equal(sb.status, 'running');

  const py = await ok(client, 'exec', { sandbox: sb.name, command: ['python3', '-c', 'import sys; print(6*7); print("warn", file=sys.stderr); sys.exit(3)'] });
  assert.deepEqual([py.exitCode, py.stdout, py.stderr], [3, '42\n', 'warn\n']);

  const written = await ok(client, 'write_file', { sandbox: sb.name, path: '/work/notes/hello.txt', content: 'héllo from mcp\n' });
  assert.equal(written.size, Buffer.byteLength('héllo from mcp\n'));
  const read = await ok(client, 'read_file', { sandbox: sb.name, path: '/work/notes/hello.txt' });
  assert.deepEqual([read.content, read.encoding, read.size], ['héllo from mcp\n', 'utf8', written.size]);
  const listed = await ok(client, 'list_files', { sandbox: sb.name, path: '/work/notes' });
  assert.deepEqual(listed.entries.map((e: { name: string }) => e.name), ['hello.txt']);

  // A client that asks for progress hears the snapshot's steps (and may keep its timeout alive on them).
  const steps: string[] = [];
  const snapped = answer(
    await client.callTool(
      { name: 'snapshot_sandbox', arguments: { sandbox: sb.name, name: `${prefix}-snap`, leaveRunning: true } },
      { onprogress: (p) => steps.push(p.message ?? ''), resetTimeoutOnProgress: true },
    ),
  );
  assert.equal(snapped.isError, false, snapped.text);
  assert.ok(steps.length > 0, 'no progress notifications');
  const snap = snapped.json;
  assert.equal(snap.sandbox, sb.name);
  assert.ok((await ok(client, 'list_snapshots', { sandbox: sb.name })).snapshots.some((s: { name: string }) => s.name === `${prefix}-snap`));
  const verdicts = (await ok(client, 'snapshot_hosts', { snapshot: `${prefix}-snap` })).hosts;
  assert.deepEqual(verdicts.find((h: { host: string }) => h.host === 'local'), { host: 'local', status: 'reachable', compatible: true, reasons: [] });
  const branch = await ok(client, 'branch_snapshot', { snapshot: `${prefix}-snap`, name: `${prefix}-b` });
  assert.equal(branch.name, `${prefix}-b`);
  const inBranch = await ok(client, 'exec', { sandbox: branch.name, command: ['python3', '-c', 'print(open("/work/notes/hello.txt").read(), end="")'] });
  assert.equal(inBranch.stdout, 'héllo from mcp\n');

  for (const name of [branch.name, sb.name]) assert.deepEqual(await ok(client, 'destroy_sandbox', { sandbox: name }), { destroyed: name });
  await ok(client, 'delete_snapshot', { snapshot: `${prefix}-snap` });
  assert.equal((await ok(client, 'list_sandboxes', {})).sandboxes.filter((s: { name: string }) => s.name.startsWith(prefix)).length, 0);
}

describe('MCP server', () => {
  let t: TestDaemon;
  let aliceKey: string;
  const clients: Client[] = [];
  before(async () => {
    t = await startTestDaemon({ mcpOrigins: ['https://dash.example.com'] });
    aliceKey = (await t.api.call('createUser', { body: { name: 'alice' } })).key;
    await t.api.call('createSandbox', { body: { name: 'admins-own' } });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await t.cleanup();
  });

  it('lists every tool with a description for a model and an input schema', async () => {
    const client = await httpClient(t, aliceKey);
    clients.push(client);
    const { tools } = await client.listTools();
    const names = tools.map((tl) => tl.name);
    for (const expected of [
      'create_sandbox', 'list_sandboxes', 'inspect_sandbox', 'destroy_sandbox',
      'exec', 'exec_background', 'exec_status', 'exec_log', 'exec_kill',
      'read_file', 'write_file', 'list_files',
      'snapshot_sandbox', 'list_snapshots', 'restore_snapshot', 'branch_snapshot',
      'pause_sandbox', 'resume_sandbox', 'freeze_sandbox', 'publish_port', 'share_port',
      'list_hosts', 'snapshot_hosts', 'move_sandbox',
    ])
      assert.ok(names.includes(expected), `no tool ${expected} in ${names.join(', ')}`);
    for (const tl of tools) {
      assert.ok((tl.description ?? '').length > 60, `${tl.name} needs a description a model can act on`);
      assert.equal(tl.inputSchema.type, 'object');
    }
    // The exec tool's schema is the API's: the command is an array of strings with at least one item.
    const exec = tools.find((tl) => tl.name === 'exec')!;
    assert.deepEqual((exec.inputSchema.properties as Record<string, { minItems?: number }>).command?.minItems, 1);
    assert.deepEqual(exec.inputSchema.required, ['sandbox', 'command']);
  });

  it('over Streamable HTTP: an agent creates a sandbox, runs python, writes and reads a file, snapshots and branches', async () => {
    const client = await httpClient(t, aliceKey);
    clients.push(client);
    await agentSession(client, 'mh');
  });

  it('over stdio (`bothub mcp`): the same session against the configured daemon', async () => {
    const client = await stdioClient(t, aliceKey);
    clients.push(client);
    assert.ok((await client.listTools()).tools.some((tl) => tl.name === 'branch_snapshot'));
    await agentSession(client, 'ms');
  });

  it("another user's sandbox answers NOT_FOUND as a tool error, over both transports", async () => {
    for (const client of [await httpClient(t, aliceKey), await stdioClient(t, aliceKey)]) {
      clients.push(client);
      for (const [tool, args] of [
        ['inspect_sandbox', { sandbox: 'admins-own' }],
        ['exec', { sandbox: 'admins-own', command: ['true'] }],
        ['destroy_sandbox', { sandbox: 'admins-own' }],
      ] as const) {
        const r = await call(client, tool, args);
        assert.equal(r.isError, true, `${tool}: ${r.text}`);
        assert.match(r.text, /^NOT_FOUND: no sandbox named "admins-own"/);
      }
      assert.equal((await ok(client, 'list_sandboxes', {})).sandboxes.length, 0);
    }
    assert.equal((await t.api.call('getSandbox', { params: { name: 'admins-own' } })).status, 'running');
  });

  it('bad arguments come back as tool errors, never protocol errors', async () => {
    const client = await httpClient(t, aliceKey);
    clients.push(client);
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['exec', { sandbox: 'admins-own', command: [] }, /command must NOT have fewer than 1 items/],
      ['exec', { command: ['true'] }, /missing argument "sandbox"/],
      ['create_sandbox', { name: 'Not A DNS Label' }, /name must match pattern .*a DNS label/],
      ['create_sandbox', { memoryMb: 'lots' }, /memoryMb must be integer/],
      ['create_sandbox', { network: 'wide' }, /network must be one of "default", "peers", "none"/],
      ['read_file', { sandbox: 'x', path: 'relative/path' }, /path must match pattern .*Absolute path/],
      ['exec', { sandbox: 'x', command: ['true'], colour: 'blue' }, /"colour" is not an argument of this tool/],
    ];
    for (const [tool, args, mentions] of cases) {
      const r = await call(client, tool, args);
      assert.equal(r.isError, true, `${tool} ${JSON.stringify(args)}: ${r.text}`);
      assert.match(r.text, /INVALID_INPUT: /);
      assert.match(r.text, mentions);
    }
    // Valid by the schema, refused by the daemon: the stable code and its hint.
    const r = await call(client, 'branch_snapshot', { snapshot: 'no-such-snap', name: 'whatever' });
    assert.equal(r.isError, true);
    assert.match(r.text, /^NOT_FOUND: /);
  });

  it('a long output is cut with the offsets that read the rest; background commands; thermal states, URLs and hosts', async () => {
    const client = await httpClient(t, aliceKey);
    clients.push(client);
    await ok(client, 'create_sandbox', { name: 'mcp-long' });
    const total = 200_000;
    const r = await ok(client, 'exec', { sandbox: 'mcp-long', command: ['python3', '-c', `import sys; sys.stdout.write("".join(chr(97 + i % 26) for i in range(${total})))`] });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.length, 64 * 1024);
    assert.deepEqual(r.cut.stdout, { shownBytes: [0, 64 * 1024], totalBytes: total });
    assert.match(r.cut.howToReadTheRest, /exec_log/);
    let offset = 64 * 1024;
    let rest = '';
    for (;;) {
      const page = await ok(client, 'exec_log', { sandbox: 'mcp-long', id: r.cut.execId, offset });
      rest += page.output;
      offset = page.nextOffset;
      if (!page.running && page.nextOffset === page.totalBytes) break;
    }
    const expected = Array.from({ length: total }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    assert.equal(r.stdout + rest, expected);

    // A background command: its id at once, its status, its log by offset, kill.
    const bg = await ok(client, 'exec_background', { sandbox: 'mcp-long', command: ['sh', '-c', 'echo started; exec sleep 1000'] });
    assert.equal((await ok(client, 'exec_status', { sandbox: 'mcp-long', id: bg.id })).status, 'running');
    await ok(client, 'exec_kill', { sandbox: 'mcp-long', id: bg.id, signal: 'KILL' });
    const log = await ok(client, 'exec_log', { sandbox: 'mcp-long', id: bg.id });
    assert.equal(log.output, 'started\n');

    // Thermal states and preview URLs: paused, then woken by the next exec; frozen to disk, and woken with its files.
    assert.equal((await ok(client, 'pause_sandbox', { sandbox: 'mcp-long' })).thermal, 'warm');
    assert.equal((await ok(client, 'exec', { sandbox: 'mcp-long', command: ['true'] })).exitCode, 0);
    await ok(client, 'write_file', { sandbox: 'mcp-long', path: '/tmp/kept', content: 'kept' });
    assert.equal((await ok(client, 'freeze_sandbox', { sandbox: 'mcp-long' })).thermal, 'cold');
    assert.equal((await ok(client, 'exec', { sandbox: 'mcp-long', command: ['cat', '/tmp/kept'] })).stdout, 'kept');
    assert.equal((await ok(client, 'resume_sandbox', { sandbox: 'mcp-long' })).thermal, 'hot');
    const published = await ok(client, 'publish_port', { sandbox: 'mcp-long', port: 8000 });
    assert.match(published.urls[0].url, /^http:\/\/mcp-long-8000\.localhost:\d+\/$/);
    assert.match((await ok(client, 'share_port', { sandbox: 'mcp-long', port: 8000 })).url, /bh_share=/);
    assert.ok((await ok(client, 'list_hosts', {})).hosts.some((h: { name: string }) => h.name === 'local'));
    const move = await call(client, 'move_sandbox', { sandbox: 'mcp-long', to: 'nowhere' });
    assert.equal(move.isError, true);
    assert.match(move.text, /^NOT_FOUND: /);
    await ok(client, 'destroy_sandbox', { sandbox: 'mcp-long' });
  });

  it('answers 401 without a key, and 403 to a browser Origin that is neither its own nor configured', async () => {
    const init = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    const post = (headers: Record<string, string>) =>
      fetch(new URL('/mcp', t.url), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(init) });
    const noKey = await post({});
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as { code: string }).code, 'UNAUTHORIZED');
    assert.equal((await post({ authorization: `Bearer ${aliceKey}`, origin: 'http://evil.example' })).status, 403);
    const own = await post({ authorization: `Bearer ${aliceKey}`, origin: t.url });
    assert.equal(own.status, 200, await own.clone().text());
    assert.equal(own.headers.get('mcp-session-id'), null, 'stateless: no session');
    // BOTHUB_MCP_ORIGINS lets a dashboard served elsewhere call it; every loopback name is the daemon's own.
    for (const origin of ['https://dash.example.com', `http://localhost:${new URL(t.url).port}`]) {
      assert.equal((await post({ authorization: `Bearer ${aliceKey}`, origin })).status, 200, origin);
    }
    await assert.rejects(httpClient(t, 'not-a-key'));
  });
});
