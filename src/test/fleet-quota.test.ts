import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/index.js';
import { BothubError } from '../core/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { FAKE_CUDA_CHECKPOINT, fakeGpuHost, type FakeGpuHost } from './helpers/fake-gpu-host.js';
import { until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

/**
 * A fleet host's agent acts as the admin, so the owner's quota is the control
 * plane's to keep on every path that gives a sandbox there resources. The
 * implicit wake (an exec, a file read, on a cold sandbox) claims its GPUs
 * again: at the owner's --max-gpus it is refused like every other path.
 */
describe('quota on fleet hosts: an implicit wake goes through the one rule', () => {
  let t: TestDaemon;
  let a: TestSshHost;
  let gpu: FakeGpuHost;
  let work: string;
  let alice: ApiClient;
  before(async () => {
    gpu = fakeGpuHost();
    work = mkdtempSync(join(tmpdir(), 'bothub-fake-cuda-'));
    writeFileSync(join(work, 'calls'), '');
    // The agent there sees the stand-in driver (the same files: the host shares this machine's).
    a = await startSshHost({
      // PATH too: the control plane reads a host's fingerprint with `nvidia-smi` over SSH.
      env: { ...gpu.env, PATH: `${dirname(gpu.nvidiaSmi)}:${process.env.PATH ?? '/usr/bin:/bin'}`, BOTHUB_NVIDIA_SMI: gpu.nvidiaSmi, BOTHUB_NVIDIA_DRIVER_ROOT: gpu.root, BOTHUB_CUDA_CHECKPOINT: FAKE_CUDA_CHECKPOINT, FAKE_CUDA_LOG: join(work, 'calls'), FAKE_CUDA_STATE: 'process' },
    });
    t = await startTestDaemon();
    await until('host-a added', () => t.api.call('addHost', { body: { name: 'host-a', ssh: `root@${a.address}`, privateKey: readFileSync(a.keyFile, 'utf8'), dataDir: a.dataDir } }), 300_000);
    alice = t.as((await t.api.call('createUser', { body: { name: 'alice', quota: { maxGpus: 1 } } })).key);
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await a.cleanup();
      gpu.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
  });

  const exec = (name: string) => alice.call('exec', { params: { name }, body: { command: ['true'] } });

  it('at --max-gpus 1: an exec on a cold GPU sandbox there is refused while another holds the GPU, and wakes it once that one stops', async () => {
    assert.equal((await t.api.call('getHost', { params: { name: 'host-a' } })).fingerprint.gpu?.devices.length, 2, 'the agent sees two GPUs');
    await alice.call('createSandbox', { body: { name: 'sleeper', host: 'host-a', gpus: '1' } });
    await alice.call('freezeSandbox', { params: { name: 'sleeper' } });
    assert.equal((await alice.call('getSandbox', { params: { name: 'sleeper' } })).thermal, 'cold');
    // Cold, it let its GPU go: another may take it.
    await alice.call('createSandbox', { body: { name: 'holder', host: 'host-a', gpus: '1' } });

    const refused = await exec('sleeper').catch((e: BothubError) => e);
    assert.ok(refused instanceof BothubError, 'the implicit wake was refused');
    assert.equal(refused.code, 'LIMIT_EXCEEDED');
    assert.match(refused.message, /user alice may hold 1 GPU\(s\) and holds 1 \(holder\)/);
    const still = await t.api.call('getSandbox', { params: { name: 'sleeper' } });
    assert.equal(still.thermal, 'cold', 'it stayed asleep, holding no GPU');

    await alice.call('stopSandbox', { params: { name: 'holder' } });
    assert.equal((await exec('sleeper')).exitCode, 0);
    const woke = await alice.call('getSandbox', { params: { name: 'sleeper' } });
    assert.equal(woke.thermal, 'hot');
    assert.equal(woke.gpus.length, 1);
    for (const name of ['sleeper', 'holder']) await alice.call('destroySandbox', { params: { name } });
  });
});
