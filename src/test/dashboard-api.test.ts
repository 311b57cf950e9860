import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ApiClient, SandboxStatsT } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';
import { collect, openSocket } from './helpers/web-session.js';

/**
 * What the dashboard reads that only a real sandbox makes: a preview served
 * from inside it, and its CPU and memory, here and on a fleet host. Sign-in,
 * sessions, CSRF and the static pages need none: dashboard-auth.test.ts.
 */
describe('dashboard API', () => {
  let t: TestDaemon;
  let aliceKey: string;
  let bobKey: string;
  let alice: ApiClient;
  before(async () => {
    t = await startTestDaemon();
    aliceKey = (await t.api.call('createUser', { body: { name: 'alice' } })).key;
    bobKey = (await t.api.call('createUser', { body: { name: 'bob' } })).key;
    alice = t.as(aliceKey);
  });
  after(async () => {
    await t.cleanup();
  });

  it("the preview proxy never passes the dashboard's session cookie on to a sandbox", async () => {
    await alice.call('createSandbox', { body: { name: 'dash-web' } });
    const server = [
      'import http.server as h',
      'class H(h.BaseHTTPRequestHandler):',
      '  def do_GET(s):',
      "    b = ('cookie=' + (s.headers.get('Cookie') or '')).encode()",
      "    s.send_response(200); s.send_header('Content-Length', str(len(b))); s.end_headers(); s.wfile.write(b)",
      "h.HTTPServer(('', 8000), H).serve_forever()",
    ].join('\n');
    await alice.call('startExec', { params: { name: 'dash-web' }, body: { command: ['python3', '-c', server] } });
    await alice.call('publish', { params: { name: 'dash-web' }, body: { port: 8000, public: true } });
    const res = await until('the server to answer', async () => {
      const r = await fetch(`${t.url}/p/dash-web/8000/`, { headers: { cookie: 'theme=dark; bothub_session=secret-session-id; lang=en' } });
      return r.ok ? r : undefined;
    });
    assert.equal(await res.text(), 'cookie=theme=dark; lang=en');
    // Served from the dashboard's origin, the page runs sandboxed: an opaque origin, no access to the API as the visitor.
    assert.match(res.headers.get('content-security-policy') ?? '', /^sandbox allow-scripts/);
    assert.doesNotMatch(res.headers.get('content-security-policy') ?? '', /allow-same-origin/);
    await alice.call('destroySandbox', { params: { name: 'dash-web' } });
  });

  it('stats of a running sandbox: memory and processes, CPU rising under load; zeros with the state once stopped', async () => {
    await alice.call('createSandbox', { body: { name: 'dash-stats', memoryMb: 256 } });
    const stats = () => alice.call('sandboxStats', { params: { name: 'dash-stats' } });
    const idle = await stats();
    assert.equal(idle.status, 'running');
    assert.ok(idle.memoryBytes > 0, `memory ${idle.memoryBytes}`);
    assert.equal(idle.memoryLimitBytes, 256 * 1024 * 1024);
    assert.ok(idle.pids >= 1);
    const busy = await alice.call('startExec', { params: { name: 'dash-stats' }, body: { command: ['sh', '-c', 'while :; do :; done'] } });
    const loaded = await until('CPU use under load', async () => {
      const s = await stats();
      return s.cpuPercent !== null && s.cpuPercent > 30 ? s : undefined;
    });
    assert.ok(loaded.cpuUsageNs > idle.cpuUsageNs);
    await alice.call('killExec', { params: { name: 'dash-stats', id: busy.id }, body: { signal: 'KILL' } });

    // The stream: a sample per interval.
    const ws = await openSocket(`${t.url}/api/v1/sandboxes/dash-stats/stats/ws?interval=250`, { authorization: `Bearer ${aliceKey}` });
    assert.ok(ws instanceof WebSocket);
    const samples = collect<SandboxStatsT>(ws);
    await until('two samples', async () => (samples.length >= 2 ? true : undefined));
    assert.ok(samples[1]!.cpuPercent !== null && samples[1]!.memoryBytes > 0);
    ws.close();
    assert.equal(await openSocket(`${t.url}/api/v1/sandboxes/dash-stats/stats/ws`, { authorization: `Bearer ${bobKey}` }), 404, "someone else's sandbox does not exist");

    const r = await cli(t.url, ['stats', 'dash-stats', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const sample = JSON.parse(r.stdout) as SandboxStatsT;
    assert.ok(sample.memoryBytes > 0 && sample.pids >= 1 && sample.cpuPercent !== null);
    const missing = await cli(t.url, ['stats', 'no-such-box']);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /^bothub: .*no-such-box.*\n$/);
    const text = await cli(t.url, ['stats', 'dash-stats']);
    assert.match(text.stdout, /^CPU +\d+\.\d%   MEM \d.*B \/ 256\.0MB   PIDS \d+\n$/);

    // Warm (frozen in place): still read, memory held, no CPU spent.
    await alice.call('pauseSandbox', { params: { name: 'dash-stats' } });
    const warm = await until('a frozen sandbox to spend no CPU', async () => {
      const s = await stats();
      return s.cpuPercent !== null && s.cpuPercent < 1 ? s : undefined;
    });
    assert.equal(warm.thermal, 'warm');
    assert.ok(warm.memoryBytes > 0 && warm.pids >= 1);
    assert.equal((await alice.call('getSandbox', { params: { name: 'dash-stats' } })).thermal, 'warm', 'reading does not wake it');

    await alice.call('stopSandbox', { params: { name: 'dash-stats' } });
    const stopped = await stats();
    assert.deepEqual(
      { ...stopped, at: '' },
      { at: '', status: 'stopped', thermal: 'hot', cpuUsageNs: 0, cpuPercent: null, memoryBytes: 0, memoryLimitBytes: 256 * 1024 * 1024, pids: 0 },
    );
    assert.match((await cli(t.url, ['stats', 'dash-stats'])).stdout, /PIDS 0   \(stopped, hot\)/);
  });

});

describe('dashboard API for a sandbox on a fleet host', () => {
  let t: TestDaemon;
  let host: TestSshHost;
  before(async () => {
    t = await startTestDaemon();
    host = await startSshHost();
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await host.cleanup();
    }
  });

  it("stats come from the host's agent, the stream with its interval; the create is in the events here", async () => {
    const add = await cli(t.url, ['host', 'add', 'far', '--ssh', `root@${host.address}`, '--key', host.keyFile, '--dir', host.dataDir]);
    assert.equal(add.code, 0, add.stderr);
    await t.api.call('createSandbox', { body: { name: 'far-box', host: 'far', memoryMb: 128 } });
    const s = await t.api.call('sandboxStats', { params: { name: 'far-box' } });
    assert.equal(s.status, 'running');
    assert.ok(s.memoryBytes > 0 && s.pids >= 1);
    assert.equal(s.memoryLimitBytes, 128 * 1024 * 1024);
    const ws = await openSocket(`${t.url}/api/v1/sandboxes/far-box/stats/ws?interval=250`, { authorization: `Bearer ${t.adminKey}` });
    assert.ok(ws instanceof WebSocket);
    const samples = await until('three samples', async () => (collect<SandboxStatsT>(ws).length >= 3 ? collect<SandboxStatsT>(ws) : undefined));
    ws.close();
    // The agent took the interval: its samples are not the default 1000 ms apart.
    const gap = Date.parse(samples[2]!.at) - Date.parse(samples[1]!.at);
    assert.ok(gap >= 250 && gap < 1000, `samples ${gap} ms apart`);
    assert.ok(samples[2]!.cpuPercent !== null);
    const types = (await t.api.call('listEvents', { query: { sandbox: 'far-box' } })).map((e) => e.type);
    assert.deepEqual(types.slice(0, 2), ['created', 'running']);
    await t.api.call('destroySandbox', { params: { name: 'far-box' } });
  });
});
