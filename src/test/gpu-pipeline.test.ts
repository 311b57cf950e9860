import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { LocalHost } from '../hostexec/index.js';
import { CudaHelper, freezeGpuProcesses, thawGpuProcesses, StepError } from '../runtime/index.js';

/** The recording fake speaks the helper's command line; it stands in only because no GPU is attached here. */
const FAKE = fileURLToPath(new URL('../../src/test/fixtures/fake-cuda-checkpoint', import.meta.url));
const log = pino({ level: 'silent' });

describe('the GPU freeze and thaw pipeline (recording fake helper)', () => {
  let dir: string;
  let calls: () => string[];
  let helper: CudaHelper;
  const failOn = (call: string) => (process.env.FAKE_CUDA_FAIL = call);
  const note = (what: string) => writeFileSync(process.env.FAKE_CUDA_LOG!, `${what}\n`, { flag: 'a' });
  const states = (...pids: number[]) => pids.map((p) => readFileSync(join(dir, 'state', String(p)), 'utf8').trim());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bothub-cuda-fake-'));
    mkdirSync(join(dir, 'state'));
    process.env.FAKE_CUDA_LOG = join(dir, 'calls');
    process.env.FAKE_CUDA_STATE = join(dir, 'state');
    delete process.env.FAKE_CUDA_FAIL;
    writeFileSync(process.env.FAKE_CUDA_LOG, '');
    calls = () => readFileSync(process.env.FAKE_CUDA_LOG!, 'utf8').trim().split('\n').filter(Boolean);
    helper = new CudaHelper(new LocalHost(), FAKE);
  });
  afterEach(() => {
    delete process.env.FAKE_CUDA_FAIL;
    rmSync(dir, { recursive: true, force: true });
  });

  it('freezes in order: lock every process, checkpoint every process, then the CRIU dump', async () => {
    const result = await freezeGpuProcesses(helper, [101, 102], async () => (note('criu dump'), 'dumped'), { leaveRunning: false }, log);
    assert.equal(result, 'dumped');
    assert.deepEqual(calls(), ['lock 101', 'lock 102', 'checkpoint 101', 'checkpoint 102', 'criu dump']);
    assert.deepEqual(states(101, 102), ['checkpointed', 'checkpointed']);
  });

  it('a --leave-running snapshot gives the processes their GPU state back after the dump', async () => {
    await freezeGpuProcesses(helper, [101, 102], async () => note('criu dump'), { leaveRunning: true }, log);
    assert.deepEqual(calls().slice(4), ['criu dump', 'restore 102', 'restore 101', 'unlock 102', 'unlock 101']);
    assert.deepEqual(states(101, 102), ['running', 'running']);
  });

  it('rolls back a failed lock: what was locked is unlocked, and the step is named', async () => {
    failOn('lock 102');
    const e = await freezeGpuProcesses(helper, [101, 102], async () => note('criu dump'), { leaveRunning: false }, log).catch((x: unknown) => x);
    assert.ok(e instanceof StepError);
    assert.equal(e.step, 'cuda lock');
    assert.match(e.message, /^cuda lock failed: lock of pid 102 failed: CUDA_ERROR_ILLEGAL_STATE/);
    assert.deepEqual(calls(), ['lock 101', 'lock 102', 'unlock 101']);
    assert.deepEqual(states(101), ['running']);
  });

  it('rolls back a failed checkpoint: restores the checkpointed, unlocks every locked one', async () => {
    failOn('checkpoint 102');
    const e = await freezeGpuProcesses(helper, [101, 102], async () => note('criu dump'), { leaveRunning: false }, log).catch((x: unknown) => x);
    assert.equal((e as StepError).step, 'cuda checkpoint');
    assert.deepEqual(calls(), ['lock 101', 'lock 102', 'checkpoint 101', 'checkpoint 102', 'restore 101', 'unlock 102', 'unlock 101']);
    assert.deepEqual(states(101, 102), ['running', 'running']);
  });

  it('rolls back a failed CRIU dump: every process gets its GPU state back and runs on', async () => {
    const e = await freezeGpuProcesses(
      helper,
      [101, 102],
      async () => {
        note('criu dump');
        throw new Error('Error (criu/cr-dump.c): Dumping FAILED.');
      },
      { leaveRunning: false },
      log,
    ).catch((x: unknown) => x);
    assert.equal((e as StepError).step, 'criu dump');
    assert.match((e as Error).message, /^criu dump failed: Error \(criu\/cr-dump\.c\)/);
    assert.deepEqual(calls().slice(4), ['criu dump', 'restore 102', 'restore 101', 'unlock 102', 'unlock 101']);
    assert.deepEqual(states(101, 102), ['running', 'running']);
  });

  it('thaws in order: CRIU restore, CUDA restore (with UUID remapping), unlock', async () => {
    await freezeGpuProcesses(helper, [101], async () => undefined, { leaveRunning: false }, log);
    writeFileSync(process.env.FAKE_CUDA_LOG!, '');
    const remap = [{ from: 'GPU-11111111-2222-3333-4444-555555555555', to: 'GPU-66666666-7777-8888-9999-000000000000' }];
    await thawGpuProcesses(helper, async () => (note('criu restore'), [101]), remap, {});
    assert.deepEqual(calls(), ['criu restore', `restore 101 ${remap[0]!.from}=${remap[0]!.to}`, 'unlock 101']);
    assert.deepEqual(states(101), ['running']);
  });

  it('a failed CUDA restore on thaw names its step', async () => {
    await freezeGpuProcesses(helper, [101], async () => undefined, { leaveRunning: false }, log);
    failOn('restore 101');
    const e = await thawGpuProcesses(helper, async () => [101], [], {}).catch((x: unknown) => x);
    assert.equal((e as StepError).step, 'cuda restore');
    assert.match((e as Error).message, /^cuda restore failed: restore of pid 101 failed/);
  });
});
