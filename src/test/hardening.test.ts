import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BothubError } from '../core/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { put, sh, until } from './helpers/sandbox.js';

describe('sandbox hardening', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('blocks mount, module loading and the other calls containers do not need', async () => {
    await t.api.call('createSandbox', { body: { name: 'jail' } });
    const r = (cmd: string) => t.api.call('exec', { params: { name: 'jail' }, body: { command: ['sh', '-c', cmd] } });
    assert.notEqual((await r('mount -t tmpfs none /mnt')).exitCode, 0);
    await put(t, 'jail', '/root/calls.py', CALLS);
    const out = await sh(t, 'jail', 'python3 /root/calls.py');
    assert.equal(out, 'mount EPERM\ninit_module EPERM\nkexec_load EPERM\nunshare EPERM\nsetns EPERM\nbpf EPERM\n');
    const status = await sh(t, 'jail', 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status');
    assert.match(status, /CapEff:\s+00000000000405fb/, 'exactly the documented capabilities');
    assert.match(status, /NoNewPrivs:\s+1/);
    assert.match(status, /Seccomp:\s+2/);
  });

  it('keeps image layers read-only and masks /proc and /sys as runc does', async () => {
    const image = t.daemon.ctx.images.rootfs('debian');
    const before = readFileSync(join(image, 'etc/os-release'));
    await sh(t, 'jail', 'echo tampered > /etc/os-release');
    assert.deepEqual(readFileSync(join(image, 'etc/os-release')), before, 'writes land in the sandbox layer, never in the image');
    assert.equal(await sh(t, 'jail', 'cat /proc/kcore 2>/dev/null | wc -c; ls /sys/firmware | wc -l'), '0\n0\n');
    assert.notEqual((await t.api.call('exec', { params: { name: 'jail' }, body: { command: ['sh', '-c', 'echo 1 > /proc/sys/kernel/sysrq'] } })).exitCode, 0);
  });

  it("cannot reach the host's loopback, the daemon's port, or another sandbox", async () => {
    const port = new URL(t.url).port;
    const gateway = t.config.subnet.replace(/\.0\/\d+$/, '.1');
    const other = await t.api.call('createSandbox', { body: { name: 'neighbour' } });
    await sh(t, 'neighbour', 'nohup python3 -m http.server 8000 >/dev/null 2>&1 &');
    await until('the neighbour server', () => fetch(`http://${other.address}:8000/`).then((r) => (r.ok ? true : undefined)));
    const probe = (host: string, p: string | number) =>
      sh(t, 'jail', `python3 -c "import socket; s=socket.socket(); s.settimeout(1)\ntry:\n  s.connect(('${host}', ${p})); print('open')\nexcept Exception as e: print('closed')"`);
    assert.equal(await probe('127.0.0.1', port), 'closed\n', "the sandbox's 127.0.0.1 is its own");
    assert.equal(await probe(gateway, port), 'closed\n', 'the host is closed to sandboxes');
    assert.equal(await probe(gateway, 22), 'closed\n');
    assert.equal(await probe(other.address!, 8000), 'closed\n', 'another sandbox is out of reach');
  });

  it("a fork bomb and a memory hog in one sandbox leave another sandbox's exec latency normal", async () => {
    await t.api.call('createSandbox', { body: { name: 'rogue', cpus: 0.5, memoryMb: 128 } });
    const latency = async () => {
      const samples: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t0 = performance.now();
        await t.api.call('exec', { params: { name: 'jail' }, body: { command: ['true'] } });
        samples.push(performance.now() - t0);
      }
      return samples.sort((a, b) => a - b)[7]!;
    };
    const calm = await latency();
    // How the attack's own exec ends is not the point (its OOM killer may take the exec's connection to init with it): the other sandbox is.
    await t.api
      .call('exec', {
        params: { name: 'rogue' },
        body: { command: ['sh', '-c', 'nohup python3 -c "b = bytearray(1 << 30)" >/dev/null 2>&1 & bomb() { bomb | bomb & }; bomb'], timeoutMs: 3000 },
      })
      .catch((e: BothubError) => assert.equal(e.code, 'RUNTIME_FAILED'));
    const stressed = await latency();
    assert.ok(stressed < Math.max(calm * 5, 50), `exec in the other sandbox: ${calm.toFixed(1)} ms calm, ${stressed.toFixed(1)} ms under attack`);
    await t.api.call('destroySandbox', { params: { name: 'rogue' } });
  });
});

const CALLS = `
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
NR = {'mount': 165, 'init_module': 175, 'kexec_load': 246, 'unshare': 272, 'setns': 308, 'bpf': 321}
args = {'mount': (b"none", b"/mnt", b"tmpfs", 0, 0), 'init_module': (0, 0, b""), 'kexec_load': (0, 0, 0, 0), 'unshare': (0x20000,), 'setns': (0, 0), 'bpf': (0, 0, 0)}
for name, nr in NR.items():
    r = libc.syscall(nr, *args[name])
    e = ctypes.get_errno()
    print(name, 'OK' if r == 0 else errno.errorcode.get(e, e))
`;
