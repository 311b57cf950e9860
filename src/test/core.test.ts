import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allocateAddress,
  assertAllowed,
  BothubError,
  ERROR_CODES,
  gatewayOf,
  generateName,
  parseDuration,
  parseEnvPairs,
  parseSizeMb,
  validateDiskMb,
  formatMb,
  parseSubnet,
  validateCpus,
  validateMemoryMb,
  validateName,
  checkCompatibility,
  type GpuNeeds,
  type HostFingerprint,
  pickHost,
  type PlacementCandidate,
  parseGpuRequest,
  allocateGpus,
  remapPairs,
  type GpuDevice,
} from '../core/index.js';

const host = { cpus: 2, memoryMb: 4096 };

describe('core: names', () => {
  it('accepts DNS labels and refuses the rest with the rule in words', () => {
    for (const ok of ['a', 'web-1', 'pr-247', 'x'.repeat(48)]) assert.equal(validateName('sandbox', ok), ok);
    for (const bad of ['', 'A', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(49), 'é']) {
      assert.throws(
        () => validateName('sandbox', bad),
        (e: BothubError) => e.code === 'INVALID_INPUT' && /lowercase letters/.test(e.message),
      );
    }
  });
  it('generates valid names', () => {
    let seed = 0.1;
    const rnd = () => (seed = ((seed * 9301 + 49297) % 233280) / 233280);
    for (let i = 0; i < 50; i++) validateName('sandbox', generateName(rnd));
  });
});

describe('core: limits', () => {
  it('checks cpus and memory against the host', () => {
    assert.equal(validateCpus(0.5, host), 0.5);
    assert.throws(() => validateCpus(0, host), /positive/);
    assert.throws(() => validateCpus(-1, host), /positive/);
    assert.throws(() => validateCpus(3, host), /more than this host has/);
    assert.equal(validateMemoryMb(256, host), 256);
    assert.throws(() => validateMemoryMb(-5, host), /at least 16/);
    assert.throws(() => validateMemoryMb(1.5, host), /whole megabytes/);
    assert.throws(() => validateMemoryMb(1 << 30, host), /more than this host has/);
  });
  it('parses sizes into megabytes, and checks a disk limit', () => {
    assert.equal(parseSizeMb('512M'), 512);
    assert.equal(parseSizeMb('2G'), 2048);
    assert.equal(parseSizeMb('1.5g'), 1536);
    assert.equal(parseSizeMb('64MiB'), 64);
    assert.equal(parseSizeMb('1T'), 1024 * 1024);
    assert.equal(parseSizeMb('100'), 100, 'a bare number is megabytes, as --memory is');
    assert.equal(parseSizeMb('1536K'), 2, 'rounded up to whole megabytes');
    assert.throws(() => parseSizeMb('lots', '--disk'), /invalid --disk "lots": give a size such as 512M, 2G or 1T/);
    assert.throws(() => parseSizeMb('-1G'), /invalid size/);
    assert.equal(validateDiskMb(32), 32);
    assert.throws(() => validateDiskMb(16), /invalid `diskMb` 16M: give at least 32M and at most 16T/);
    assert.throws(() => validateDiskMb(17 * 1024 * 1024), /at most 16T/);
    assert.deepEqual([formatMb(64), formatMb(10240), formatMb(1536), formatMb(2 * 1024 * 1024)], ['64M', '10G', '1536M', '2T']);
  });
  it('parses durations and env pairs', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('soon'), /30s, 5m or 1h/);
    assert.deepEqual(parseEnvPairs(['A=1', 'B=x=y', 'C=']), { A: '1', B: 'x=y', C: '' });
    assert.throws(() => parseEnvPairs(['=1']), /KEY=VALUE/);
    assert.throws(() => parseEnvPairs(['NOEQ']), /KEY=VALUE/);
  });
});

describe('core: addresses', () => {
  it('gives the gateway the first address and sandboxes the next free ones', () => {
    const s = parseSubnet('10.77.0.0/24');
    assert.equal(gatewayOf(s), '10.77.0.1');
    assert.equal(allocateAddress(s, new Set()), '10.77.0.2');
    assert.equal(allocateAddress(s, new Set(['10.77.0.2', '10.77.0.3'])), '10.77.0.4');
  });
  it('says so when the subnet is full', () => {
    const s = parseSubnet('10.0.0.0/29');
    const used = new Set(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    assert.throws(
      () => allocateAddress(s, used),
      (e: BothubError) => e.code === 'LIMIT_EXCEEDED',
    );
    assert.throws(() => parseSubnet('10.0.0.0/33'), /CIDR/);
  });
});

describe('core: states', () => {
  it('allows actions only in the statuses where they make sense, saying what to do', () => {
    assertAllowed('a', 'running', 'exec');
    assert.throws(() => assertAllowed('a', 'stopped', 'exec'), /; start it \(`POST \/api\/v1\/sandboxes\/a\/start`\)$/);
    assert.throws(() => assertAllowed('a', 'running', 'start'), /stop it first/);
    assertAllowed('a', 'exited', 'start');
  });
});

describe('core: error registry', () => {
  it('documents every code and maps it to an HTTP status and exit code', () => {
    for (const [code, e] of Object.entries(ERROR_CODES)) {
      assert.ok(e.doc.length > 10, `${code} has a doc`);
      assert.ok(e.status >= 400 && e.status < 600, `${code} has an error status`);
      assert.ok(e.exit > 0 && e.exit < 256, `${code} has an exit code`);
    }
  });
});

describe('core: the compatibility gate', () => {
  const base: HostFingerprint = {
    kernel: '6.18.44',
    arch: 'x64',
    cpuModel: 'Xeon',
    cpuFlags: ['avx2', 'sse4_2', 'hypervisor'],
    criuVersion: '4.2.1',
    runcVersion: '1.1.5',
    root: true,
    criuCheck: 'ok',
    gpu: {
      driverVersion: '550.54.15',
      cudaVersion: '12.4',
      devices: [0, 1].map((i) => ({ index: i, name: 'NVIDIA H100 80GB HBM3', uuid: `GPU-${i}`, memoryMb: 81559, memoryUsedMb: 0 })),
    },
  };
  const gpu: GpuNeeds = { driverVersion: '550.54.15', cudaVersion: '12.4', model: 'NVIDIA H100 80GB HBM3', count: 2, memoryMb: 40000 };

  it('passes an identical host, and ignores flags that do not change code paths', () => {
    assert.deepEqual(checkCompatibility(base, { ...base, cpuFlags: ['avx2', 'sse4_2'] }, { gpu }), { compatible: true, reasons: [] });
  });

  it('names every reason at once', () => {
    const host: HostFingerprint = { ...base, cpuFlags: ['sse4_2'], criuVersion: '3.17', kernel: '5.10.0', root: false, criuCheck: 'Error (criu/vdso.c): no vdso' };
    const v = checkCompatibility(base, host);
    assert.equal(v.compatible, false);
    assert.deepEqual(v.reasons, [
      'bothub does not run as root on the host (sandboxes need root: runc, mounts, namespaces)',
      '`criu check` fails on the host: Error (criu/vdso.c): no vdso',
      "host CPU lacks flags the snapshot's processes may use: avx2",
      'host CRIU 3.17 cannot restore (need 4.0 or newer); run scripts/install-criu there',
      'kernel major version differs: snapshot 6.18.44, host 5.10.0',
    ]);
  });

  it('GPU snapshots need the same driver, CUDA, model and count, and free device memory', () => {
    const other = (g: Partial<NonNullable<HostFingerprint['gpu']>>) => ({ ...base, gpu: { ...base.gpu!, ...g } });
    const reasons = (h: HostFingerprint) => checkCompatibility(base, h, { gpu }).reasons;
    assert.deepEqual(reasons({ ...base, gpu: null }), ['the snapshot holds GPU state (2× NVIDIA H100 80GB HBM3) and the host has no NVIDIA GPU']);
    assert.deepEqual(reasons(other({ driverVersion: '535.104.05' })), ['NVIDIA driver differs: snapshot 550.54.15, host 535.104.05']);
    assert.deepEqual(reasons(other({ cudaVersion: '12.2' })), ['CUDA version differs: snapshot 12.4, host 12.2']);
    assert.deepEqual(reasons(other({ devices: base.gpu!.devices.map((d) => ({ ...d, name: 'NVIDIA A100-SXM4-80GB' })) })), [
      'GPU model differs: snapshot NVIDIA H100 80GB HBM3, host NVIDIA A100-SXM4-80GB',
    ]);
    assert.deepEqual(reasons(other({ devices: base.gpu!.devices.slice(0, 1) })), ['the snapshot needs 2× NVIDIA H100 80GB HBM3; the host has 1']);
    assert.deepEqual(reasons(other({ devices: base.gpu!.devices.map((d, i) => ({ ...d, memoryUsedMb: i ? 60000 : 0 })) })), [
      'not enough free GPU memory: 2 GPU(s) with 40000 MiB free needed, 1 have it',
    ]);
  });
});

describe('core: the scheduler', () => {
  const host = (name: string, memoryMb: number, usedMemoryMb = 0, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
    name,
    reachable: true,
    cpus: 4,
    memoryMb,
    gpus: 0,
    usedCpus: 0,
    usedMemoryMb,
    usedGpus: 0,
    ...extra,
  });

  it('puts a sandbox where the most memory is left, the first host on a tie', () => {
    assert.equal(pickHost([host('local', 8000), host('a', 8000)], { cpus: null, memoryMb: 512, gpus: 0 }), 'local');
    assert.equal(pickHost([host('local', 8000, 4000), host('a', 8000)], { cpus: null, memoryMb: 512, gpus: 0 }), 'a');
  });

  it('skips hosts that cannot take it: unreachable, too few CPUs or GPUs', () => {
    const hosts = [host('local', 8000, 0, { usedCpus: 4 }), host('a', 16000, 0, { reachable: false }), host('b', 4000)];
    assert.equal(pickHost(hosts, { cpus: 1, memoryMb: 512, gpus: 0 }), 'b');
    assert.throws(
      () => pickHost(hosts, { cpus: 1, memoryMb: 512, gpus: 1 }),
      /no host can take this sandbox \(local: 0 of 4 CPUs free, no GPU; a: unreachable, no GPU; b: no GPU\)/,
    );
  });

  it('counts GPUs: held ones are not free, and --gpus all needs a host whose GPUs are all free', () => {
    const hosts = [host('a', 8000, 0, { gpus: 2, usedGpus: 1 }), host('b', 4000, 0, { gpus: 2 })];
    assert.equal(pickHost(hosts, { cpus: null, memoryMb: 512, gpus: 1 }), 'a');
    assert.equal(pickHost(hosts, { cpus: null, memoryMb: 512, gpus: 2 }), 'b');
    assert.equal(pickHost(hosts, { cpus: null, memoryMb: 512, gpus: 'all' }), 'b');
    assert.throws(() => pickHost(hosts, { cpus: null, memoryMb: 512, gpus: 3 }), /a: 1 of 2 GPUs free; b: 2 of 2 GPUs free/);
  });

  it('skips a host refused whatever room it has (a rented one past the owner\'s price limit), saying why', () => {
    const hosts = [host('local', 4000), host('rent-a', 16000, 0, { refused: 'over the price limit' })];
    assert.equal(pickHost(hosts, { cpus: null, memoryMb: 512, gpus: 0 }), 'local');
    assert.throws(() => pickHost(hosts, { cpus: null, memoryMb: 8000, gpus: 0 }), /local: 4000 MB of 4000 MB free; rent-a: over the price limit\)/);
  });
});

describe('core: GPUs', () => {
  const gpu = (index: number, name = 'NVIDIA H100 80GB HBM3'): GpuDevice => ({
    index,
    name,
    uuid: `GPU-0000000${index}-aaaa-bbbb-cccc-dddddddddddd`,
    memoryMb: 81559,
    memoryUsedMb: 0,
  });
  const devices = [gpu(0), gpu(1), gpu(2, 'NVIDIA A100-SXM4-40GB')];
  const uuid = (i: number) => devices[i]!.uuid;
  const none = new Set<string>();

  it('parses --gpus: all, a count, or UUIDs; anything else is refused with the forms in words', () => {
    assert.deepEqual(parseGpuRequest('all'), { kind: 'all' });
    assert.deepEqual(parseGpuRequest('2'), { kind: 'count', count: 2 });
    assert.deepEqual(parseGpuRequest(`${uuid(0)},${uuid(1)}`), { kind: 'uuids', uuids: [uuid(0), uuid(1)] });
    assert.throws(() => parseGpuRequest('0'), /invalid `gpus` 0: ask for 1 to 64 GPUs/);
    for (const bad of ['two', '-1', 'GPU-xyz', `${uuid(0)},${uuid(0)}`, ''])
      assert.throws(
        () => parseGpuRequest(bad),
        (e: BothubError) => e.code === 'INVALID_INPUT' && /use all, a count such as 2, or GPU UUIDs|ask for 1 to/.test(e.message),
      );
  });

  it('allocates free GPUs by UUID, the ones a sandbox had first, only of the model its state needs', () => {
    assert.deepEqual(allocateGpus({ kind: 'count', count: 2 }, devices, { held: none }), [uuid(0), uuid(1)]);
    assert.deepEqual(allocateGpus({ kind: 'count', count: 1 }, devices, { held: new Set([uuid(0)]) }), [uuid(1)]);
    assert.deepEqual(allocateGpus({ kind: 'count', count: 1 }, devices, { held: none, prefer: [uuid(1)] }), [uuid(1)]);
    assert.deepEqual(allocateGpus({ kind: 'count', count: 1 }, devices, { held: new Set([uuid(0), uuid(1)]), model: 'NVIDIA A100-SXM4-40GB' }), [uuid(2)]);
    assert.throws(
      () => allocateGpus({ kind: 'count', count: 1 }, devices, { held: new Set([uuid(0), uuid(1)]), model: 'NVIDIA H100 80GB HBM3' }),
      /1 NVIDIA H100 80GB HBM3 GPUs are needed and 0 are free on this host/,
    );
    assert.deepEqual(allocateGpus({ kind: 'all' }, devices, { held: none }), [uuid(0), uuid(1), uuid(2)]);
    assert.throws(
      () => allocateGpus({ kind: 'all' }, devices, { held: new Set([uuid(2)]) }),
      (e: BothubError) => e.code === 'IN_USE',
    );
    assert.throws(
      () => allocateGpus({ kind: 'uuids', uuids: [uuid(1)] }, devices, { held: new Set([uuid(1)]) }),
      (e: BothubError) => e.code === 'IN_USE',
    );
    assert.throws(() => allocateGpus({ kind: 'count', count: 4 }, devices, { held: none }), /this host has 3 GPU\(s\) and 4 were asked for/);
    assert.throws(() => allocateGpus({ kind: 'count', count: 1 }, [], { held: none }), /this host has no NVIDIA GPU/);
  });

  it('remaps every GPU once any differs (the driver wants them all), and none when all are the same', () => {
    assert.deepEqual(remapPairs([uuid(0), uuid(1)], [uuid(0), uuid(1)]), []);
    assert.deepEqual(remapPairs([uuid(0), uuid(1)], [uuid(0), uuid(2)]), [
      { from: uuid(0), to: uuid(0) },
      { from: uuid(1), to: uuid(2) },
    ]);
  });
});
