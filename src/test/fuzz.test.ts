import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { Value } from 'typebox/value';
import WebSocket from 'ws';
import { ApiClient, routes, routeUrl, type HttpStreamRouteName, type RouteDef, type SocketErrorT, type SocketRouteName } from '../api/index.js';
import { fakeFiles } from './helpers/fake-files.js';
import type { FakeScript } from './helpers/fake-runtime.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';
import { clientFrame, rawUpgrade } from './helpers/raw-socket.js';
import { until } from './helpers/sandbox.js';
import { probe } from './helpers/socket.js';

/**
 * Fuzzes the WebSocket routes and the streaming HTTP routes for every role
 * (no key, wrong key, another user, the owner, the admin) against one daemon
 * on the fake runtime (no root, no bridge: the fuzzer is after the daemon's
 * handling of input, and the fake's commands speak the real exec protocol),
 * over its loopback port, as clients do: random bytes, wrong types, huge and negative numbers, NUL, invalid
 * UTF-8, messages out of order, sockets and bodies cut off mid-way. Nothing
 * may answer 5xx, the daemon must keep answering, and its open file
 * descriptors and memory must come back to where they were.
 *
 * Reproduce a failure with the seed fast-check prints: BOTHUB_FUZZ_SEED=<seed>.
 * BOTHUB_FUZZ_RUNS scales the run counts (default 1).
 *
 * Memory is measured after a real GC: `node --test` takes no per-file
 * --expose-gc, so the flag is set at run time and `gc` is taken from a fresh
 * context (V8 only installs it in contexts made after the flag is set).
 */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const SEED = Number(process.env.BOTHUB_FUZZ_SEED ?? 20261201);
const SCALE = Number(process.env.BOTHUB_FUZZ_RUNS ?? 1);
/** The daemon runs in this process (startInjectDaemon), so its descriptors are ours. */
const openFds = () => readdirSync('/proc/self/fd').length;
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const ROLES = ['no key', 'wrong key', 'other user', 'owner', 'admin'] as const;
type Role = (typeof ROLES)[number];

// Inputs: the strings, numbers and values that break code.
const nasty = fc.oneof(
  fc.constantFrom(
    '',
    'a\u0000b',
    '\u0000',
    '/tmp/a\u0000b',
    '../../etc/passwd',
    '/etc/hostname',
    '/tmp',
    'alice-box',
    'debian',
    'local',
    '\uD800',
    '%00',
    '💥'.repeat(50),
    'x'.repeat(70_000),
  ),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const number = fc.oneof(fc.integer(), fc.constantFrom(-1, 0, 1, 65, 1001, 2 ** 31, -(2 ** 31), 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5), fc.double({ noNaN: true }));
const value: fc.Arbitrary<unknown> = fc.oneof(nasty, number, fc.boolean(), fc.constant(null), fc.array(nasty, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }));
const controlish = fc.record(
  { type: fc.constantFrom('eof', 'resize', 'signal', 'exit', 'started', 'error', 'x'), rows: fc.oneof(number, value), cols: number, signal: fc.oneof(number, value) },
  { requiredKeys: ['type'] },
);
const startish = fc.record(
  {
    command: fc.oneof(fc.array(nasty, { maxLength: 3 }), value),
    env: fc.oneof(fc.dictionary(nasty, nasty, { maxKeys: 2 }), value),
    workdir: value,
    tty: fc.oneof(fc.record({ rows: number, cols: number }), value),
  },
  { requiredKeys: [] },
);
/** Starts that are valid and end by themselves (a plain `cat` ends on eof or when its client goes). */
const validStart = fc.constantFrom(
  { command: ['true'] },
  { command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] },
  { command: ['cat'] },
  { command: ['sh', '-c', 'exit 0'], tty: { rows: 24, cols: 80 } },
);

type Action =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bad-utf8'; bytes: Uint8Array }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'stdin'; text: string };
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.oneof(controlish, startish, validStart, value).map((v) => ({ kind: 'json' as const, value: v })), weight: 6 },
  { arbitrary: fc.string({ maxLength: 40 }).map((text) => ({ kind: 'text' as const, text })), weight: 2 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => ({ kind: 'bad-utf8' as const, bytes: Uint8Array.from([0xff, 0xfe, ...b]) })), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'binary' as const, bytes })), weight: 2 },
  { arbitrary: fc.string({ maxLength: 20 }).map((text) => ({ kind: 'stdin' as const, text })), weight: 2 },
);
const validControl = fc.oneof(
  fc.record({ type: fc.constant('resize'), rows: fc.integer({ min: 1, max: 1000 }), cols: fc.integer({ min: 1, max: 1000 }) }),
  fc.constant({ type: 'signal', signal: 28 }),
);
/** A session that follows the rules, with the odd bad message among them: a run of random actions is mostly refused at once. */
const session = fc.oneof(
  fc.array(action, { maxLength: 6 }),
  fc
    .tuple(
      validStart,
      fc.array(
        fc.oneof(
          validControl.map((v) => ({ kind: 'json' as const, value: v })),
          action,
        ),
        { maxLength: 3 },
      ),
    )
    .map(([start, rest]): Action[] => [{ kind: 'json', value: start }, ...rest, { kind: 'json', value: { type: 'eof' } }]),
);
/** The commands the fuzzer starts and the file routes run, as the fake runtime answers them: a terminal's `cat` runs until a signal ends it. */
const files = fakeFiles();
const commands: FakeScript = (cmd) => {
  const { argv, tty, stdin } = cmd;
  if (argv[0] === 'cat') return tty ? { untilSignal: true } : { stdout: stdin };
  if (argv[0] === 'echo') return { stdout: `${argv.slice(1).join(' ')}\n` };
  if (argv.join(' ') === 'sh -c echo out; echo err >&2; exit 3') return { stdout: 'out\n', stderr: 'err\n', exitCode: 3 };
  return files(cmd);
};

/** How the client ends: a clean close, a dropped connection, waiting for the daemon, or (raw) a frame cut off or one claiming more than the limit. */
const ending = fc.constantFrom('close', 'terminate', 'linger', 'cut-frame', 'huge-frame');

const table = Object.entries(routes) as [string, RouteDef][];
/** Every route of the table that streams: a route added later is fuzzed too. */
const parseOrUndefined = (b: Buffer): unknown => {
  try {
    return JSON.parse(b.toString()) as unknown;
  } catch {
    return undefined;
  }
};

const SOCKET_ROUTES = table.filter(([, r]) => r.stream === 'websocket').map(([k]) => k as SocketRouteName);
const STREAM_ROUTES = table.filter(([, r]) => r.stream && r.stream !== 'websocket').map(([k]) => k as HttpStreamRouteName);

describe('fuzzing sockets and streams, for every role', () => {
  let t: InjectDaemon;
  let keys: Record<Role, string | undefined>;
  /** An interactive command of alice's to attach to (restarted when the fuzzer ends it). */
  let tty = '';
  let background = '';
  let fdsBefore = 0;
  let heapBefore = 0;
  const serverErrors: string[] = [];
  /** What the daemon answered, by kind (an upgrade's status, a close code, an HTTP status): the fuzzer must have reached past the door. */
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);

  // In a real daemon an exception no listener catches, or a rejection no one handles, ends the
  // process; this one runs in the test's process, so they are counted here, and the fuzzer stops at the first.
  const crashes: string[] = [];
  const onCrash = (e: unknown) => crashes.push(String((e as Error)?.stack ?? e));
  const noCrash = () => assert.deepEqual(crashes, [], 'an error escaped into the event loop: the daemon would have exited');

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    // Bad keys are part of the input: the limiter's 429 is tested elsewhere.
    t = await startInjectDaemon({ authMaxFailures: 1_000_000, authFailureDelayMs: 0 });
    t.runtime.script = commands;
    const alice = (await t.api.call('createUser', { body: { name: 'alice' } })).key;
    const bob = (await t.api.call('createUser', { body: { name: 'bob' } })).key;
    keys = { 'no key': undefined, 'wrong key': 'bh_aaaaaaaaaaaa_' + 'b'.repeat(32), 'other user': bob, owner: alice, admin: t.adminKey };
    await t.as(alice).call('createSandbox', { body: { name: 'alice-box' } });
    background = (await t.as(alice).call('startExec', { params: { name: 'alice-box' }, body: { command: ['echo', 'logged'] } })).id;
  });
  after(async () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await t.cleanup();
  });

  async function liveTerminal(): Promise<string> {
    if (tty && (await t.api.call('getExec', { params: { name: 'alice-box', id: tty } })).status === 'running') return tty;
    const p = probe(new ApiClient(t.url, { token: keys.owner }), 'execStream', { name: 'alice-box' });
    await p.opened;
    p.sendJson({ command: ['cat'], tty: { rows: 24, cols: 80 } });
    const started = await until('a terminal to attach to', async () => p.messages.find((m) => m.type === 'started'));
    p.ws.close();
    await p.closed;
    tty = started.type === 'started' ? started.id : '';
    return tty;
  }

  /** The terminal command holds descriptors while it runs, by design: it is ended before each measure. */
  async function endTerminal(): Promise<void> {
    if (!tty) return;
    const id = tty;
    await t.api.call('killExec', { params: { name: 'alice-box', id }, body: { signal: 'KILL' } }).catch(() => undefined);
    await until('the terminal command to end', async () => ((await t.api.call('getExec', { params: { name: 'alice-box', id } })).status !== 'running' ? true : undefined));
  }

  const params = (route: SocketRouteName | HttpStreamRouteName, name: string) =>
    routeUrl(routes[route].url, { name: Buffer.from(name).toString(), id: route === 'attachExec' ? tty : background }).replace(/^/, t.url);

  /** One socket session: connect as `role`, send `actions`, end as `end`. */
  async function socketRun(route: SocketRouteName, role: Role, name: string, actions: Action[], end: string): Promise<void> {
    noCrash();
    if (route === 'attachExec') await liveTerminal();
    const url = params(route, name).replace(/^http/, 'ws');
    if (end === 'cut-frame' || end === 'huge-frame') {
      const raw = await rawUpgrade(url.replace(/^ws/, 'http'), keys[role]);
      if (typeof raw === 'number') {
        count(`upgrade ${raw}`);
        return void assert.ok(raw < 500, `${route} as ${role}: upgrade answered ${raw}`);
      }
      const closed = new Promise((r) => raw.once('close', r));
      raw.on('error', () => undefined);
      raw.resume();
      const payload = Buffer.from(JSON.stringify({ command: ['cat'] }));
      // A frame cut off mid-way and the connection dropped; or a frame that claims 2^40 bytes (the daemon refuses it, 1009).
      raw.write(end === 'cut-frame' ? clientFrame(1, payload, payload.length + 100) : clientFrame(2, payload, 2 ** 40));
      if (end === 'cut-frame') raw.destroy();
      await closed;
      return;
    }
    const ws = new WebSocket(url, { headers: keys[role] ? { authorization: `Bearer ${keys[role]}` } : {} });
    const refused = new Promise<number | undefined>((resolve) => {
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode);
      });
      ws.once('open', () => resolve(undefined));
      ws.once('error', () => resolve(undefined));
    });
    const closed = new Promise<void>((r) =>
      ws.once('close', (code) => {
        count(`close ${code}`);
        r();
      }),
    );
    ws.on('error', () => undefined);
    ws.on('message', (d: Buffer, binary: boolean) => {
      if (binary) return;
      const msg = JSON.parse(d.toString()) as { type: string } & Partial<SocketErrorT>;
      if (msg.type === 'error' && (msg.statusCode ?? 0) >= 500) serverErrors.push(`${route} as ${role}: ${msg.code} ${msg.message}`);
    });
    const status = await refused;
    if (status !== undefined) {
      count(`upgrade ${status}`);
      return void assert.ok(status < 500, `${route} as ${role}: upgrade answered ${status}`);
    }
    for (const a of actions) {
      if (ws.readyState !== WebSocket.OPEN) break;
      if (a.kind === 'json') ws.send(JSON.stringify(a.value) ?? 'null');
      else if (a.kind === 'text') ws.send(a.text);
      else if (a.kind === 'bad-utf8') ws.send(Buffer.from(a.bytes), { binary: false });
      else if (a.kind === 'binary') ws.send(Buffer.from(a.bytes));
      else ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(a.text)]));
    }
    if (end === 'terminate') ws.terminate();
    else if (end === 'close' && ws.readyState === WebSocket.OPEN) ws.close();
    else {
      // Linger: the daemon ends it (an exit, an error), or we close after a while.
      const timer = setTimeout(() => ws.close(), 1500);
      await closed;
      clearTimeout(timer);
    }
    await closed;
  }

  /** One HTTP request on a streaming route, read up to 64 KiB; `truncate` sends part of the body it announced and drops the connection. */
  function httpRun(route: HttpStreamRouteName, role: Role, name: string, query: string, body: Buffer | undefined, type: string | undefined, truncate: boolean) {
    noCrash();
    const def = routes[route];
    const url = `${params(route, name)}?${query}`;
    return new Promise<void>((resolve, reject) => {
      const req = http.request(url, {
        method: def.method,
        agent: false,
        timeout: 3000,
        headers: {
          ...(keys[role] ? { authorization: `Bearer ${keys[role]}` } : {}),
          ...(type ? { 'content-type': type } : {}),
          ...(body ? { 'content-length': String(body.length + (truncate ? 100 : 0)) } : {}),
        },
      });
      req.on('timeout', () => req.destroy());
      req.on('close', () => resolve());
      req.on('error', () => resolve());
      req.on('response', (res) => {
        count(`http ${res.statusCode}`);
        if ((res.statusCode ?? 0) >= 500) reject(new Error(`${def.method} ${url.slice(0, 200)} as ${role} (${type}): ${res.statusCode}`));
        let seen = 0;
        res.on('data', (c: Buffer) => {
          seen += c.length;
          // NDJSON streams report failures in-band: an error line counts as the 5xx it is.
          if (def.stream === 'ndjson' && /"error":\{"statusCode":5/.test(c.toString())) serverErrors.push(`${route} as ${role}: ${c.toString().slice(0, 300)}`);
          if (seen > 65536) req.destroy();
        });
      });
      if (body) req.write(body);
      if (truncate) setImmediate(() => req.destroy());
      else req.end();
    });
  }

  const queryPart = fc.oneof(
    fc
      .tuple(fc.constantFrom('path', 'offset', 'limit', 'follow', 'length', 'mode', 'name', 'x'), fc.oneof(nasty, number.map(String)))
      .map(([k, v]) => `${k}=${encodeURIComponent(Buffer.from(v).toString())}`),
    fc.constantFrom('path=%FF%FE', 'path=%', 'path=/tmp/%00', 'offset=-1', 'limit=99999999999999999999', 'follow=true', 'path=/etc/hostname', 'mode=0644', 'name=debian'),
  );
  /** Random parts, or a query a route takes (so the handlers are reached, not only the validator). */
  const query = fc.oneof(fc.array(queryPart, { maxLength: 3 }), fc.constantFrom([], ['path=/etc/hostname'], ['path=/tmp', 'offset=0'], ['offset=3', 'limit=5'], ['name=fuzzed']));
  const httpBody = fc.oneof(
    fc.constant(undefined),
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc.oneof(startish, value, fc.record({ name: nasty, to: nasty, host: nasty, leaveRunning: value }, { requiredKeys: [] })).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  );
  const contentType = fc.constantFrom(undefined, 'application/json', 'application/octet-stream', 'application/x-tar', 'text/plain', 'multipart/form-data; boundary=x');
  const sandboxName = fc.oneof({ arbitrary: fc.constant('alice-box'), weight: 4 }, { arbitrary: nasty, weight: 1 });

  /** Runs per role and route: the keys that fail at the door need few; the owner's inputs reach the handlers. */
  const RUNS: Record<Role, number> = { 'no key': 2, 'wrong key': 2, 'other user': 6, owner: 20, admin: 12 };

  async function fuzz(scale: number): Promise<void> {
    let combo = 0;
    // Each role and route gets its own seed, derived from SEED: the same inputs for all would explore less.
    const runs = (role: Role, n = 1) => ({ seed: SEED + combo++, numRuns: Math.max(1, Math.round(RUNS[role] * n * scale * SCALE)), endOnFailure: true });
    for (const route of SOCKET_ROUTES)
      for (const role of ROLES)
        await fc.assert(
          fc.asyncProperty(sandboxName, session, ending, async (name, actions, end) => socketRun(route, role, name, actions, end)),
          runs(role, 1.5),
        );
    for (const route of STREAM_ROUTES)
      for (const role of ROLES)
        await fc.assert(
          fc.asyncProperty(sandboxName, query, httpBody, contentType, fc.boolean(), async (name, query, body, type, truncate) => {
            // A real checkpoint takes seconds and stops the sandbox: the fuzzer is after bad input, so a valid body is made invalid.
            if (route === 'createSnapshot' && body && Value.Check(routes.createSnapshot.body, parseOrUndefined(body))) body = Buffer.from('{"name": 5}');
            await httpRun(route, role, name, query.join('&'), body, type, truncate && body !== undefined);
          }),
          runs(role, 0.5),
        );
  }

  it('no 5xx and no daemon exit; descriptors and memory back to their start level', async () => {
    // A short warm-up first: compiled validators, pooled buffers and the JIT are not leaks.
    await fuzz(0.25);
    await endTerminal();
    fdsBefore = openFds();
    heapBefore = heapMb();
    await fuzz(1);
    noCrash();
    assert.deepEqual(serverErrors, [], 'no socket or stream reported a 5xx');
    assert.equal((await t.api.call('health')).status, 'ok', 'the daemon still answers');
    await endTerminal();
    // Sockets close on both ends asynchronously; each command the fuzzer started has ended.
    const fdsAfter = await until(
      `descriptors back to ${fdsBefore} (+2)`,
      async () => {
        const n = openFds();
        return n <= fdsBefore + 2 ? n : undefined;
      },
      15_000,
    ).catch(() => openFds());
    const heapAfter = heapMb();
    process.stdout.write(`# fuzz outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}\n`);
    for (const reached of ['close 1008', 'close 1000', 'upgrade 401', 'upgrade 404', 'http 400', 'http 200'])
      assert.ok(outcomes.get(reached), `the fuzzer reached "${reached}" (it did: ${[...outcomes.keys()].join(', ')})`);
    process.stdout.write(`# fuzz: fds ${fdsBefore} -> ${fdsAfter}; heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB\n`);
    assert.ok(fdsAfter <= fdsBefore + 2, `open descriptors ${fdsBefore} -> ${fdsAfter}`);
    assert.ok(heapAfter <= heapBefore + 16, `heap ${heapBefore.toFixed(1)} -> ${heapAfter.toFixed(1)} MiB`);
  });
});
