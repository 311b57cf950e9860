import { LocalHost } from '../hostexec/index.js';
import { CgroupReader, cgroupsPath } from '../runtime/index.js';
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

/**
 * The memory the kernel charges to these sandboxes' cgroups (their processes'
 * pages and the page cache they brought in), summed. The host's free memory
 * would also count every other process on a shared machine; a sandbox gone
 * cold has no cgroup left, so it holds none.
 */
async function cgroupMemoryMb(ids: string[]): Promise<number> {
  const host = new LocalHost();
  const bytes = await Promise.all(ids.map((id) => new CgroupReader(host, cgroupsPath(id)).memoryBytes()));
  return bytes.reduce((sum, b) => sum + b, 0) / 1024 / 1024;
}

/** A sandbox serving HTTP on port 8000, published; its public URL and its id. */
async function web(t: DaemonProcess, name: string): Promise<{ url: string; id: string }> {
  const { id } = await t.api.call('createSandbox', { body: { name, idleWarmMs: 0, idleColdMs: 0 } });
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
  return { url: sb.urls[0]!.pathUrl, id };
}

export async function benchThermal(t: DaemonProcess, runs: number): Promise<string[]> {
  const out: string[] = [];
  const { url } = await web(t, 'wake');
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
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await web(t, `idle-${i}`)).id);
  const hotMb = await cgroupMemoryMb(ids);
  for (let i = 0; i < 20; i++) await t.api.call('freezeSandbox', { params: { name: `idle-${i}` } });
  const coldMb = await cgroupMemoryMb(ids);
  out.push(`20 idle sandboxes, memory their cgroups hold  hot ${hotMb.toFixed(0)} MB → cold ${coldMb.toFixed(0)} MB`);
  for (let i = 0; i < 20; i++) await t.api.call('destroySandbox', { params: { name: `idle-${i}` } });
  return out;
}
