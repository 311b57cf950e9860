import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { ManualClock } from '../core/index.js';
import { LocalHost } from '../hostexec/index.js';
import { containerId, isAlive } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { put, sh, until } from './helpers/sandbox.js';

/** Counts requests in memory: a restart would start again at 1, a real wake goes on. */
const COUNTER = `
import http.server, socketserver
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global n; n += 1
        body = f'count {n}\\n'.encode()
        self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128  # 20 clients arrive at once when it wakes
S(('0.0.0.0', 8000), H).serve_forever()
`;

/** A WebSocket echo server with the standard library only (RFC 6455, unmasked replies). */
const WS_ECHO = `
import base64, hashlib, socket, struct, threading
def serve(c):
    req = b''
    while b'\\r\\n\\r\\n' not in req: req += c.recv(1024)
    key = [l.split(b':', 1)[1].strip() for l in req.split(b'\\r\\n') if l.lower().startswith(b'sec-websocket-key')][0]
    acc = base64.b64encode(hashlib.sha1(key + b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest())
    c.sendall(b'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + acc + b'\\r\\n\\r\\n')
    def read(n):
        b = b''
        while len(b) < n: b += c.recv(n - len(b))
        return b
    while True:
        h = read(2); op = h[0] & 15; n = h[1] & 127
        if n == 126: n = struct.unpack('>H', read(2))[0]
        elif n == 127: n = struct.unpack('>Q', read(8))[0]
        mask = read(4); data = bytes(b ^ mask[i % 4] for i, b in enumerate(read(n)))
        if op == 8: c.sendall(b'\\x88\\x00'); return
        reply = b'echo: ' + data
        c.sendall(bytes([0x80 | op]) + (bytes([len(reply)]) if len(reply) < 126 else b'\\x7e' + struct.pack('>H', len(reply))) + reply)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 9000)); s.listen()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

describe('thermal states, preview URLs and wake on request', () => {
  let t: TestDaemon;
  let url: string;
  // Idle periods and share-link lifetimes are stepped over, not slept through.
  const clock = new ManualClock();
  before(async () => {
    t = await startTestDaemon({}, { clock });
    await t.api.call('createSandbox', { body: { name: 'web', idleWarmMs: 1000, idleColdMs: 2500 } });
    await put(t, 'web', '/root/counter.py', COUNTER);
    await sh(t, 'web', 'nohup python3 /root/counter.py >/dev/null 2>&1 &');
    const sb = await t.api.call('publish', { params: { name: 'web' }, body: { port: 8000, public: true } });
    url = sb.urls[0]!.pathUrl;
    assert.match(sb.urls[0]!.url, /^http:\/\/web-8000\.localhost:\d+\/$/);
  });
  after(async () => {
    await t.cleanup();
  });

  const get = (u: string, headers: Record<string, string> = {}) => fetch(u, { headers }).then(async (r) => ({ status: r.status, text: await r.text() }));
  const thermal = async (name: string) => (await t.api.call('getSandbox', { params: { name } })).thermal;

  it('goes warm, then cold with no process left, and a plain request to its preview URL wakes it with its memory', async () => {
    assert.equal((await until('the server', async () => ((await get(url).catch(() => ({ status: 0, text: '' }))).status === 200 ? get(url) : undefined))).text, 'count 2\n');
    // fetch() will not send a Host header of its own choosing; http.request does, as a browser would for *.localhost.
    const byHost = await new Promise<string>((resolve, reject) => {
      const u = new URL(t.url);
      http
        .get({ host: u.hostname, port: u.port, path: '/', headers: { host: `web-8000.localhost:${u.port}` } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    assert.equal(byHost, 'count 3\n', 'the host-name URL reaches the same server');
    assert.equal(await thermal('web'), 'hot');
    clock.advance(1000);
    await until('warm', async () => ((await thermal('web')) === 'warm' ? true : undefined), 30_000);
    clock.advance(1500);
    // Going cold is a CRIU dump: seconds, more on a busy machine.
    await until('cold', async () => ((await thermal('web')) === 'cold' ? true : undefined), 60_000);
    const sb = await t.api.call('getSandbox', { params: { name: 'web' } });
    assert.equal(sb.status, 'running');
    assert.equal(await t.daemon.runtime.runc.initPid(containerId(sb.id)), undefined, 'no container, so no process');
    assert.equal(existsSync(`/sys/fs/cgroup/pids/bothub/${sb.id}`), false, 'its cgroup is gone too');
    const woken = await get(url);
    assert.deepEqual(woken, { status: 200, text: 'count 4\n' });
    assert.equal(await thermal('web'), 'hot');
  });

  it('20 concurrent requests to a cold sandbox all succeed and cause exactly one restore', async () => {
    await t.api.call('freezeSandbox', { params: { name: 'web' } });
    assert.equal(await thermal('web'), 'cold');
    const wokeBefore = (await t.api.call('listEvents', { query: { sandbox: 'web' } })).filter((e) => e.type === 'woke').length;
    const replies = await Promise.all(Array.from({ length: 20 }, () => get(url)));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(20).fill(200),
    );
    const counts = replies.map((r) => Number(/count (\d+)/.exec(r.text)![1])).sort((a, b) => a - b);
    assert.deepEqual(
      counts,
      Array.from({ length: 20 }, (_, i) => counts[0]! + i),
      'twenty distinct requests served by the same process, memory intact',
    );
    const woke = (await t.api.call('listEvents', { query: { sandbox: 'web' } })).filter((e) => e.type === 'woke').length;
    assert.equal(woke - wokeBefore, 1);
  });

  it('an exec on a cold sandbox wakes it; pause and resume by hand', async () => {
    await t.api.call('freezeSandbox', { params: { name: 'web' } });
    assert.equal(await sh(t, 'web', 'echo awake'), 'awake\n');
    assert.equal(await thermal('web'), 'hot');
    await t.api.call('pauseSandbox', { params: { name: 'web' } });
    assert.equal(await thermal('web'), 'warm');
    await t.api.call('resumeSandbox', { params: { name: 'web' } });
    assert.equal(await thermal('web'), 'hot');
  });

  it('destroys a warm sandbox: its frozen processes are thawed to die, and nothing of it stays', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'frosty' } });
    await t.api.call('pauseSandbox', { params: { name: 'frosty' } });
    const pid = await t.daemon.runtime.runc.initPid(containerId(sb.id));
    assert.ok(pid);
    await t.api.call('destroySandbox', { params: { name: 'frosty' } });
    assert.equal(await isAlive(new LocalHost(), pid), false, 'its init is gone (or a zombie its parent has yet to reap)');
    assert.equal(existsSync(`/sys/fs/cgroup/pids/bothub/${sb.id}`), false, 'its cgroup is gone');
    assert.equal(existsSync(`/sys/fs/cgroup/freezer/bothub/${sb.id}`), false, 'its freezer cgroup is gone');
  });

  it('the periodic check for dead sandboxes, running all through a freeze, takes the cold sandbox for what it is', async () => {
    // The check reads the container list outside the sandbox's lock: a container the
    // freeze removed on purpose must not make it mark the sandbox exited.
    let frozen = false;
    const freeze = t.api.call('freezeSandbox', { params: { name: 'web' } }).finally(() => (frozen = true));
    let checks = 0;
    // Back to back, each awaited: every check of the freeze's duration sees some step of it.
    while (!frozen) {
      await t.daemon.ctx.sandboxes.reconcile(false);
      checks++;
    }
    await freeze;
    assert.ok(checks > 0);
    const sb = await t.api.call('getSandbox', { params: { name: 'web' } });
    assert.deepEqual([sb.status, sb.thermal], ['running', 'cold']);
    assert.equal(await sh(t, 'web', 'echo awake'), 'awake\n');
  });

  it('keeps its thermal state and published URLs across a daemon restart', async () => {
    await t.api.call('freezeSandbox', { params: { name: 'web' } });
    await t.restart();
    const sb = await t.api.call('getSandbox', { params: { name: 'web' } });
    assert.deepEqual([sb.status, sb.thermal, sb.urls.map((u) => u.port)], ['running', 'cold', [8000]]);
    assert.match((await get(url)).text, /^count \d+\n$/);
  });

  it('never cools a keep-hot sandbox', async () => {
    await t.api.call('createSandbox', { body: { name: 'hotty', idleWarmMs: 300, idleColdMs: 600, keepHot: true } });
    // An exec is activity: both idle clocks start now, on the test's clock.
    for (const name of ['hotty', 'web']) await sh(t, name, 'true');
    clock.advance(1500);
    // One tick judges both: once "web" (warm after 1 s) has cooled, the keep-hot one has been passed over.
    await until('"web" warm', async () => ((await thermal('web')) === 'warm' ? true : undefined), 30_000);
    assert.equal(await thermal('hotty'), 'hot');
    await t.api.call('destroySandbox', { params: { name: 'hotty' } });
  });

  it('a private preview needs the owner key; an unknown one answers 404', async () => {
    await t.api.call('publish', { params: { name: 'web' }, body: { port: 8000, public: false } });
    assert.equal((await get(url)).status, 401);
    assert.equal((await get(url, { authorization: `Bearer ${t.adminKey}` })).status, 200);
    const { key } = await t.api.call('createUser', { body: { name: 'mallory' } });
    assert.equal((await get(url, { authorization: `Bearer ${key}` })).status, 404);
    assert.equal((await get(`${t.url}/p/web/9999/`)).status, 404);
    await t.api.call('publish', { params: { name: 'web' }, body: { port: 8000, public: true } });
  });

  it('a share link opens a private preview without a key until it is revoked or expires', async () => {
    await t.api.call('publish', { params: { name: 'web' }, body: { port: 8000, public: false } });
    assert.equal((await get(url)).status, 401);
    const link = await t.api.call('createShare', { params: { name: 'web' }, body: { port: 8000 } });
    const first = await fetch(link.pathUrl);
    assert.equal(first.status, 200);
    assert.match(await first.text(), /^count \d+\n$/);
    // The first visit leaves a cookie scoped to the preview, so its pages' own requests work too.
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    assert.match(first.headers.get('set-cookie')!, /Path=\/p\/web\/8000\/; HttpOnly; SameSite=Lax/);
    assert.equal((await get(url, { cookie })).status, 200);
    const tampered = link.pathUrl.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assert.equal((await get(tampered)).status, 401);
    await t.api.call('revokeShare', { params: { id: link.share.id } });
    assert.equal((await get(link.pathUrl)).status, 401);
    assert.equal((await get(url, { cookie })).status, 401);
    const short = await t.api.call('createShare', { params: { name: 'web' }, body: { port: 8000, ttlSeconds: 1 } });
    assert.equal((await get(short.pathUrl)).status, 200);
    clock.advance(2000);
    assert.equal((await get(short.pathUrl)).status, 401, 'expired');
    await t.api.call('publish', { params: { name: 'web' }, body: { port: 8000, public: true } });
  });

  it('passes WebSocket upgrades through the proxy', async () => {
    await put(t, 'web', '/root/ws.py', WS_ECHO);
    await sh(t, 'web', 'nohup python3 /root/ws.py >/dev/null 2>&1 &');
    await t.api.call('publish', { params: { name: 'web' }, body: { port: 9000, public: true } });
    const ws = await until(
      'the websocket server',
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const w = new WebSocket(`${t.url.replace('http', 'ws')}/p/web/9000/chat`, { handshakeTimeout: 2000 });
          const timer = setTimeout(() => {
            w.terminate();
            reject(new Error('no answer'));
          }, 3000);
          w.once('open', () => {
            clearTimeout(timer);
            resolve(w);
          });
          w.once('error', reject);
          w.once('close', () => reject(new Error('closed')));
        }),
    );
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d: Buffer) => resolve(d.toString()));
      ws.once('close', () => reject(new Error('closed before the echo')));
      ws.send('hello');
    });
    assert.equal(reply, 'echo: hello');
    ws.close();
  });
});
