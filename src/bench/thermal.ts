import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

const IS_V2 = !existsSync('/sys/fs/cgroup/memory');

interface HeldMemory {
  /** Cgroups of these sandboxes that exist now (a cold sandbox has none). */
  cgroups: number;
  /** What the kernel charges them (memory.usage_in_bytes, v2 memory.current), MiB. */
  usageMb: number;
  /** Of which their processes' own pages (v1 total_rss, v2 anon) and page cache (total_cache, file), MiB. */
  rssMb: number;
  cacheMb: number;
}

/**
 * The memory the kernel charges to these sandboxes' cgroups, summed from
 * their memory controller (cgroup v1 memory.usage_in_bytes and memory.stat,
 * or v2's files). The host's free memory would also count every other
 * process on a shared machine; a sandbox gone cold has no cgroup left, so it
 * holds none, and its cost is the disk its frozen state takes instead.
 */
async function heldMemory(ids: string[]): Promise<HeldMemory> {
  const host = new LocalHost();
  const held: HeldMemory = { cgroups: 0, usageMb: 0, rssMb: 0, cacheMb: 0 };
  const MiB = 1024 * 1024;
  for (const id of ids) {
    const dir = IS_V2 ? `/sys/fs/cgroup${cgroupsPath(id)}` : `/sys/fs/cgroup/memory${cgroupsPath(id)}`;
    if (!existsSync(dir)) continue;
    held.cgroups++;
    held.usageMb += (await new CgroupReader(host, cgroupsPath(id)).memoryBytes()) / MiB;
    const stat = readFileSync(`${dir}/memory.stat`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0) / MiB;
    held.rssMb += field(IS_V2 ? 'anon' : 'total_rss');
    held.cacheMb += field(IS_V2 ? 'file' : 'total_cache');
  }
  return held;
}

const describeHeld = (m: HeldMemory) => `${m.cgroups} cgroups hold ${m.usageMb.toFixed(0)} MiB (${m.rssMb.toFixed(0)} MiB process pages, ${m.cacheMb.toFixed(0)} MiB page cache)`;

/** Bytes under a directory (du's apparent size would count holes; this counts allocated blocks, as the disk sees them). */
const diskMb = (dir: string) => Number(execFileSync('du', ['-s', '--block-size=1M', dir], { encoding: 'utf8' }).split('\t')[0]);

/** A sandbox serving HTTP on port 8000, published; its public URL and its id. */
export async function web(t: DaemonProcess, name: string): Promise<{ url: string; id: string }> {
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
  const heldHot = await heldMemory(ids);
  for (let i = 0; i < 20; i++) await t.api.call('freezeSandbox', { params: { name: `idle-${i}` } });
  const heldCold = await heldMemory(ids);
  out.push(`20 idle sandboxes, hot:  ${describeHeld(heldHot)}`);
  out.push(`20 idle sandboxes, cold: ${describeHeld(heldCold)}; their frozen state on disk ${diskMb(join(t.dataDir, 'cold'))} MiB`);
  for (let i = 0; i < 20; i++) await t.api.call('destroySandbox', { params: { name: `idle-${i}` } });
  return out;
}
