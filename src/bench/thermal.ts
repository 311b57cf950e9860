import { readFileSync } from 'node:fs';
import type { DaemonProcess } from './daemon-process.js';
import { row, time } from './stats.js';

const SERVER = `
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('content-length', '3'); self.end_headers(); self.wfile.write(b'ok\\n')
    def log_message(self, *a): pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer.request_queue_size = 128
socketserver.TCPServer(('0.0.0.0', 8000), H).serve_forever()
`;

/** Memory in use on the host, from the kernel's own accounting (MemTotal - MemAvailable). */
function hostMemoryMb(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)![1]);
  return (kb('MemTotal') - kb('MemAvailable')) / 1024;
}

async function web(t: DaemonProcess, name: string): Promise<string> {
  await t.api.call('createSandbox', { body: { name, idleWarmMs: 0, idleColdMs: 0 } });
  await t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', 'cat > /root/s.py'], stdin: SERVER } });
  await t.api.call('exec', {
    params: { name },
    body: {
      command: [
        'sh',
        '-c',
        'nohup python3 /root/s.py >/dev/null 2>&1 & while ! python3 -c "import socket; socket.create_connection((\'127.0.0.1\', 8000))" 2>/dev/null; do sleep 0.05; done',
      ],
    },
  });
  const sb = await t.api.call('publish', { params: { name }, body: { port: 8000, public: true } });
  return sb.urls[0]!.pathUrl;
}

export async function benchThermal(t: DaemonProcess, runs: number): Promise<string[]> {
  const out: string[] = [];
  const url = await web(t, 'wake');
  await fetch(url).then((r) => r.text());
  const warm: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < runs; i++) {
    await t.api.call('pauseSandbox', { params: { name: 'wake' } });
    warm.push((await time(() => fetch(url).then((r) => r.text())))[0]);
  }
  for (let i = 0; i < Math.min(runs, 30); i++) {
    await t.api.call('freezeSandbox', { params: { name: 'wake' } });
    cold.push((await time(() => fetch(url).then((r) => r.text())))[0]);
  }
  const hot: number[] = [];
  for (let i = 0; i < runs; i++) hot.push((await time(() => fetch(url).then((r) => r.text())))[0]);
  out.push(row('proxied request, hot', hot));
  out.push(row('warm wake (first request)', warm, 'target ≤ 2 ms'));
  out.push(row('cold wake (first request)', cold, 'target ≤ 150 ms'));
  await t.api.call('destroySandbox', { params: { name: 'wake' } });

  // 20 idle sandboxes, each a python web server: hot, then all cold.
  const before = hostMemoryMb();
  for (let i = 0; i < 20; i++) await web(t, `idle-${i}`);
  const hotMb = hostMemoryMb() - before;
  for (let i = 0; i < 20; i++) await t.api.call('freezeSandbox', { params: { name: `idle-${i}` } });
  const coldMb = hostMemoryMb() - before;
  out.push(`20 idle sandboxes, host memory  hot ${hotMb.toFixed(0)} MB → cold ${coldMb.toFixed(0)} MB`);
  for (let i = 0; i < 20; i++) await t.api.call('destroySandbox', { params: { name: `idle-${i}` } });
  return out;
}
