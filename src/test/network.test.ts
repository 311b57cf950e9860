import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gatewayOf, parseSubnet } from '../core/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { until } from './helpers/sandbox.js';

describe('networking', () => {
  let t: TestDaemon;
  let server: Server;
  let gateway: string;
  const hostPort = 18000 + (process.pid % 1000);
  before(async () => {
    // A server on the host side, on this daemon's own bridge address, on a port opened to sandboxes.
    t = await startTestDaemon({ allowedHostPorts: [hostPort] });
    gateway = gatewayOf(parseSubnet(t.config.subnet));
    server = createServer((_req, res) => res.end('hello from the host\n'));
    await new Promise<void>((r) => server.listen(hostPort, gateway, r));
  });
  after(async () => {
    server.close();
    await t.cleanup();
  });

  it('reaches a server on the host side', async () => {
    await t.api.call('createSandbox', { body: { name: 'net' } });
    const port = (server.address() as { port: number }).port;
    const r = await t.api.call('exec', {
      params: { name: 'net' },
      body: { command: ['python3', '-c', `import urllib.request; print(urllib.request.urlopen("http://${gateway}:${port}/", timeout=5).read().decode(), end="")`] },
    });
    assert.equal(r.stdout, 'hello from the host\n', r.stderr);
    const dns = await t.api.call('exec', { params: { name: 'net' }, body: { command: ['cat', '/etc/resolv.conf'] } });
    assert.match(dns.stdout, /^nameserver /m);
  });

  it('a port inside is reachable from the host at the sandbox address', async () => {
    const sb = await t.api.call('getSandbox', { params: { name: 'net' } });
    await t.api.call('exec', {
      params: { name: 'net' },
      body: { command: ['sh', '-c', 'mkdir -p /srv && echo served > /srv/index.html && cd /srv && nohup python3 -m http.server 8000 >/dev/null 2>&1 &'] },
    });
    const body = await until('the server in the sandbox', async () => (await fetch(`http://${sb.address}:8000/index.html`)).text());
    assert.equal(body, 'served\n');
  });

  it('--network none has only loopback', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'offline', network: 'none' } });
    assert.equal(sb.address, null);
    const r = await t.api.call('exec', { params: { name: 'offline' }, body: { command: ['sh', '-c', 'ls /sys/class/net'] } });
    assert.equal(r.stdout.trim(), 'lo');
  });
});
