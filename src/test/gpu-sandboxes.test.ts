import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BothubError } from '../core/index.js';
import { LocalHost } from '../hostexec/index.js';
import { buildOciSpec, discoverNvidiaDriver, gpuAttachment, type SnapshotManifest } from '../runtime/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { FAKE_CUDA_CHECKPOINT, fakeGpuHost, type FakeGpuHost } from './helpers/fake-gpu-host.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

describe('the NVIDIA driver, found as the container toolkit finds it', () => {
  it('finds the nodes, each GPU by UUID and minor, and the driver files by name; the OCI config gets them read-only', async () => {
    const gpu = fakeGpuHost();
    try {
      const driver = await discoverNvidiaDriver(new LocalHost(), gpu.root);
      assert.ok(driver);
      assert.deepEqual(driver.control, [
        { path: '/dev/nvidiactl', major: 1, minor: 3 },
        { path: '/dev/nvidia-uvm', major: 1, minor: 3 },
      ]);
      assert.deepEqual(
        [...driver.gpus],
        gpu.gpus.map((g) => [g.uuid, { path: `/dev/nvidia${g.minor}`, major: 1, minor: g.minor }]),
      );
      assert.deepEqual(driver.files.map((f) => f.guest).sort(), [
        'bin/nvidia-smi',
        'lib64/libcuda.so.1',
        `lib64/libcuda.so.${gpu.driverVersion}`,
        'lib64/libnvidia-ml.so.1',
        `lib64/libnvidia-ml.so.${gpu.driverVersion}`,
      ]);
      // A soname link binds the file it resolves to: nothing has to resolve inside the sandbox.
      assert.equal(driver.files.find((f) => f.guest === 'lib64/libcuda.so.1')!.source, join(gpu.root, `usr/lib/x86_64-linux-gnu/libcuda.so.${gpu.driverVersion}`));

      const spec = buildOciSpec({ ...MINIMAL_SPEC, gpu: gpuAttachment(driver, [gpu.gpus[1]!.uuid]) }) as OciConfig;
      assert.deepEqual(
        spec.linux.devices.map((d) => d.path),
        ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia7'],
      );
      assert.deepEqual(
        spec.linux.resources.devices.slice(1),
        spec.linux.devices.map((d) => ({ allow: true, type: 'c', major: d.major, minor: d.minor, access: 'rwm' })),
      );
      const binds = spec.mounts.filter((m) => m.destination.startsWith('/usr/local/nvidia/'));
      assert.equal(binds.length, driver.files.length);
      assert.ok(binds.every((m) => m.options.includes('ro')));
      assert.throws(() => gpuAttachment(driver, ['GPU-99999999-0000-0000-0000-000000000000']), /has no GPU GPU-9999/);
      assert.equal(await discoverNvidiaDriver(new LocalHost(), '/nonexistent'), null);
      assert.throws(() => gpuAttachment(null, [gpu.gpus[0]!.uuid]), /the NVIDIA driver is not loaded on this host/);
    } finally {
      gpu.cleanup();
    }
  });
});

interface OciConfig {
  mounts: { destination: string; options: string[] }[];
  linux: { devices: { path: string; major: number; minor: number }[]; resources: { devices: object[] } };
}
const MINIMAL_SPEC = { hostname: 'h', rootfs: '/r', initBinary: '/i', guestDir: '/g', etcDir: '/e', command: [], env: [], pidsLimit: 100, cgroupsPath: '/bothub/x' };

describe('--gpus on a host without GPUs', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon({ nvidiaSmi: '/nonexistent/nvidia-smi', nvidiaDriverRoot: '/nonexistent' });
  });
  after(() => t.cleanup());

  it('is refused with a clear message, and no sandbox is left', async () => {
    const r = await cli(t.url, ['create', '--name', 'wants-gpu', '--gpus', '1']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /this host has no NVIDIA GPU \(nvidia-smi lists none\); leave `--gpus` out, or create the sandbox on a GPU host \(name it in `--host`\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(await t.api.call('listSandboxes'), []);
  });

  it('a malformed --gpus is refused before anything is made', async () => {
    const r = await cli(t.url, ['create', '--gpus', 'two']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid `--gpus` "two": use all, a count such as 2, or GPU UUIDs/);
    const api = await t.api.call('createSandbox', { body: { gpus: '0' } }).catch((e: unknown) => e);
    assert.ok(api instanceof BothubError && api.code === 'INVALID_INPUT', String(api));
  });
});

/**
 * GPU sandboxes end to end with real runc and CRIU, on a stand-in driver (the
 * GPUs are the kernel's memory devices) and the recording stand-in of the
 * CUDA checkpoint helper: no GPU is attached to this machine. The "CUDA
 * process" holds /dev/nvidiactl open as a real one does and counts.
 */
describe('GPU sandboxes (stand-in driver and CUDA helper)', () => {
  let t: TestDaemon;
  let gpu: FakeGpuHost;
  let work: string;
  const calls = () => readFileSync(process.env.FAKE_CUDA_LOG!, 'utf8').trim().split('\n').filter(Boolean);
  // `9>&-`: its sleeps must not inherit the device (CUDA opens it close-on-exec).
  const COUNTER = 'exec 9<>/dev/nvidiactl; n=0; while :; do n=$((n+1)); echo $n > /root/count; sleep 0.05 9>&-; done';
  const count = async (name: string) => Number((await sh(t, name, 'cat /root/count')).trim());
  /** The host PID of the sandbox's CUDA process, as the helper was called with it. */
  const cudaPid = (call: string) => Number(call.split(' ')[1]);

  before(async () => {
    gpu = fakeGpuHost();
    work = mkdtempSync(join(tmpdir(), 'bothub-fake-cuda-'));
    process.env.FAKE_CUDA_LOG = join(work, 'calls');
    process.env.FAKE_CUDA_STATE = 'process';
    t = await startTestDaemon({ nvidiaSmi: gpu.nvidiaSmi, nvidiaDriverRoot: gpu.root, cudaCheckpoint: FAKE_CUDA_CHECKPOINT });
  });
  beforeEach(() => {
    writeFileSync(process.env.FAKE_CUDA_LOG!, '');
    delete process.env.FAKE_CUDA_FAIL;
  });
  after(async () => {
    await t.cleanup();
    gpu.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('create --gpus 1 passes one GPU in as the NVIDIA toolkit does, and records it by UUID', async () => {
    const r = await cli(t.url, ['create', '--name', 'g1', '--gpus', '1', '--', 'sh', '-c', COUNTER]);
    assert.equal(r.code, 0, r.stderr);
    const s = await t.api.call('getSandbox', { params: { name: 'g1' } });
    assert.deepEqual(s.gpus, [gpu.gpus[0]!.uuid]);
    // The control node and its own GPU's node (with the driver's numbers), not the other GPU's.
    assert.equal((await sh(t, 'g1', 'stat -c "%F %t:%T" /dev/nvidiactl /dev/nvidia5')).trim(), 'character special file 1:3\ncharacter special file 1:5');
    assert.equal((await sh(t, 'g1', 'test -e /dev/nvidia7 && echo there || echo absent')).trim(), 'absent');
    // The driver's libraries and tools, read-only; nothing else of the host's library directory.
    assert.equal(await sh(t, 'g1', 'cat /usr/local/nvidia/lib64/libcuda.so.1'), gpu.libcuda);
    assert.equal(
      (await sh(t, 'g1', 'ls /usr/local/nvidia/lib64 /usr/local/nvidia/bin | tr "\\n" " "')).trim(),
      [
        '/usr/local/nvidia/bin:',
        'nvidia-smi',
        '',
        '/usr/local/nvidia/lib64:',
        'libcuda.so.1',
        `libcuda.so.${gpu.driverVersion}`,
        'libnvidia-ml.so.1',
        `libnvidia-ml.so.${gpu.driverVersion}`,
      ].join(' '),
    );
    assert.match(await sh(t, 'g1', '(echo x > /usr/local/nvidia/lib64/libcuda.so.1) 2>&1 || true'), /Read-only file system/);
    const env = await sh(t, 'g1', 'echo $NVIDIA_VISIBLE_DEVICES $LD_LIBRARY_PATH; command -v nvidia-smi');
    assert.equal(env, `${gpu.gpus[0]!.uuid} /usr/local/nvidia/lib64\n/usr/local/nvidia/bin/nvidia-smi\n`);
  });

  it('the scheduler counts GPUs: a held one is not given again', async () => {
    const two = await cli(t.url, ['create', '--name', 'g2', '--gpus', '2']);
    assert.equal(two.code, 6);
    assert.match(two.stderr, /2 GPUs are needed and 1 are free on this host/);
    const taken = await cli(t.url, ['create', '--name', 'g2', '--gpus', gpu.gpus[0]!.uuid]);
    assert.equal(taken.code, 5);
    assert.match(taken.stderr, new RegExp(`GPU ${gpu.gpus[0]!.uuid} is held by another sandbox`));
    const unknown = await cli(t.url, ['create', '--name', 'g2', '--gpus', 'GPU-00000000-0000-0000-0000-000000000000']);
    assert.equal(unknown.code, 3);
    const all = await cli(t.url, ['create', '--name', 'g2', '--gpus', 'all']);
    assert.equal(all.code, 5);
    assert.deepEqual(
      (await t.api.call('listSandboxes')).map((s) => s.name),
      ['g1'],
    );
  });

  it('a snapshot locks and checkpoints CUDA before the CRIU dump, then gives it back; the manifest says what a restore needs', async () => {
    const before = await count('g1');
    await snapshot(t, 'g1', 'g1-snap', true);
    const log = calls();
    const pid = cudaPid(log[0]!);
    assert.deepEqual(log, [`lock ${pid}`, `checkpoint ${pid}`, `restore ${pid}`, `unlock ${pid}`]);
    assert.equal(pid, await cudaPidOf(t, 'g1')); // the sandbox's CUDA process, by its host PID
    await until('the counter going on', async () => ((await count('g1')) > before + 5 ? true : undefined));
    const snap = await t.api.call('getSnapshot', { params: { name: 'g1-snap' } });
    const manifest = JSON.parse(readFileSync(join(t.daemon.ctx.snapshots.dirOf(snap.id), 'manifest.json'), 'utf8')) as SnapshotManifest;
    assert.deepEqual(manifest.gpu, { driverVersion: gpu.driverVersion, cudaVersion: '12.4', model: gpu.model, count: 1, memoryMb: 0, uuids: [gpu.gpus[0]!.uuid] });
    assert.equal(manifest.sandbox.gpus, 1);
  });

  it('cold lets the GPU go; waking claims a free one and restores the CUDA state onto it (UUIDs remapped)', async () => {
    await t.api.call('freezeSandbox', { params: { name: 'g1' } });
    const frozen = calls();
    const pid = cudaPid(frozen[0]!);
    assert.deepEqual(frozen, [`lock ${pid}`, `checkpoint ${pid}`]);
    // While it sleeps its GPU is free: another sandbox takes exactly that one.
    const other = await cli(t.url, ['create', '--name', 'g2', '--gpus', gpu.gpus[0]!.uuid]);
    assert.equal(other.code, 0, other.stderr);
    writeFileSync(process.env.FAKE_CUDA_LOG!, '');
    const woke = await count('g1'); // the exec wakes it
    const [from, to] = [gpu.gpus[0]!.uuid, gpu.gpus[1]!.uuid];
    const thaw = calls();
    const newPid = cudaPid(thaw[0]!);
    assert.notEqual(newPid, pid);
    assert.deepEqual(thaw, [`restore ${newPid} ${from}=${to}`, `unlock ${newPid}`]);
    assert.ok(woke > 5, `the count went on from where it was (${woke})`);
    assert.deepEqual((await t.api.call('getSandbox', { params: { name: 'g1' } })).gpus, [to]);
    assert.equal((await sh(t, 'g1', 'echo $NVIDIA_VISIBLE_DEVICES; ls /dev | grep -c "^nvidia[0-9]"')).trim(), `${to}\n1`);
  });

  it('a branch of a GPU snapshot needs a free GPU, and gets its CUDA state restored there', async () => {
    // Both GPUs are held (g1 and g2): the branch cannot have one.
    const refused = await restore(t, 'g1-snap', 'g1-branch').catch((e: unknown) => e);
    assert.ok(refused instanceof BothubError && refused.code === 'LIMIT_EXCEEDED', String(refused));
    assert.equal((await t.api.call('listSandboxes')).length, 2);
    await t.api.call('destroySandbox', { params: { name: 'g2' } });
    writeFileSync(process.env.FAKE_CUDA_LOG!, '');
    const branch = await restore(t, 'g1-snap', 'g1-branch');
    assert.deepEqual(branch.gpus, [gpu.gpus[0]!.uuid]); // the snapshot's own GPU, free again: no remapping
    const pid = cudaPid(calls()[0]!);
    assert.deepEqual(calls(), [`restore ${pid}`, `unlock ${pid}`]);
    const n = await count('g1-branch');
    await until('the branch counting', async () => ((await count('g1-branch')) > n ? true : undefined));
  });

  it('a failed CUDA checkpoint rolls back: the process is unlocked and runs on, no snapshot is kept, the step is named', async () => {
    const pid = await cudaPidOf(t, 'g1-branch');
    process.env.FAKE_CUDA_FAIL = `checkpoint ${pid}`;
    const e = await snapshot(t, 'g1-branch', 'broken').catch((x: unknown) => x);
    assert.ok(e instanceof BothubError, String(e));
    assert.match(e.message, /^cuda checkpoint failed: checkpoint of pid \d+ failed: CUDA_ERROR_ILLEGAL_STATE/);
    assert.deepEqual(calls(), [`lock ${pid}`, `checkpoint ${pid}`, `unlock ${pid}`]);
    const s = await t.api.call('getSandbox', { params: { name: 'g1-branch' } });
    assert.equal(s.status, 'running');
    const n = await count('g1-branch');
    await until('the counter going on', async () => ((await count('g1-branch')) > n ? true : undefined));
    assert.deepEqual(
      (await t.api.call('listSnapshots')).map((x) => x.name),
      ['g1-snap'],
    );
  });

  it('a wake that would take its owner past --max-gpus is refused, and the sandbox stays cold', async () => {
    for (const name of ['g1', 'g1-branch']) await t.api.call('destroySandbox', { params: { name } });
    const { key } = await t.api.call('createUser', { body: { name: 'gina', quota: { maxGpus: 1 } } });
    const gina = t.as(key);
    const refusal = (e: unknown, held: string) =>
      e instanceof BothubError && e.code === 'LIMIT_EXCEEDED' && new RegExp(`user gina may hold 1 GPU\\(s\\) and holds 1 \\(${held}\\); this needs 1 more`).test(e.message);
    await gina.call('createSandbox', { body: { name: 'gq1', gpus: '1', diskMb: 64 } });
    const second = await gina.call('createSandbox', { body: { name: 'gq2', gpus: '1', diskMb: 64 } }).catch((e: unknown) => e);
    assert.ok(refusal(second, 'gq1'), String(second));
    // Cold, gq1 has let its GPU go: gq2 may have one now.
    await gina.call('freezeSandbox', { params: { name: 'gq1' } });
    await gina.call('createSandbox', { body: { name: 'gq2', gpus: '1', diskMb: 64 } });
    // The host has a GPU free, but waking gq1 would make two for gina.
    const wake = await gina.call('resumeSandbox', { params: { name: 'gq1' } }).catch((e: unknown) => e);
    assert.ok(refusal(wake, 'gq2'), String(wake));
    assert.equal((await gina.call('getSandbox', { params: { name: 'gq1' } })).thermal, 'cold');
    await gina.call('destroySandbox', { params: { name: 'gq2' } });
    assert.equal((await gina.call('resumeSandbox', { params: { name: 'gq1' } })).thermal, 'hot');
    await t.api.call('removeUser', { params: { name: 'gina' }, query: { force: true } });
  });
});

/** The host PID of a sandbox's process that holds /dev/nvidiactl. */
async function cudaPidOf(t: TestDaemon, name: string): Promise<number> {
  const s = await t.api.call('getSandbox', { params: { name } });
  const procs = readFileSync(`/sys/fs/cgroup/pids/bothub/${s.id}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  const holds = (p: number) => readdirSync(`/proc/${p}/fd`).some((fd) => readlinkSync(`/proc/${p}/fd/${fd}`) === '/dev/nvidiactl');
  const pid = procs.find(holds);
  if (!pid) throw new Error(`no CUDA stand-in process in ${name}`);
  return pid;
}
