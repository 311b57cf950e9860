import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseS3Url } from '../runtime/index.js';
import { S3Documents, s3ClientFromEnv } from '../runtime/s3.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { FAKE_CUDA_CHECKPOINT, fakeGpuHost, type FakeGpuHost } from './helpers/fake-gpu-host.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

/**
 * GPU snapshots and cold images with BOTHUB_STORE=s3://… (stand-in driver
 * and CUDA helper, as gpu-sandboxes.test.ts): written whole, then cut into
 * chunks of the bucket with their manifests there too, so that losing the
 * data dir's copies loses nothing.
 */
describe('BOTHUB_STORE=s3://…: GPU snapshots and cold images go into the bucket whole, manifests with them', () => {
  let s3: TestS3;
  let t: TestDaemon;
  let gpu: FakeGpuHost;
  let work: string;
  let docs: S3Documents;
  const COUNTER = 'exec 9<>/dev/nvidiactl; n=0; while :; do n=$((n+1)); echo $n > /root/count; sleep 0.05 9>&-; done';
  const count = async (name: string) => Number((await sh(t, name, 'cat /root/count')).trim());
  const calls = () => readFileSync(process.env.FAKE_CUDA_LOG!, 'utf8').trim().split('\n').filter(Boolean);

  before(async () => {
    s3 = await startS3();
    gpu = fakeGpuHost();
    work = mkdtempSync(join(tmpdir(), 'bothub-fake-cuda-'));
    process.env.FAKE_CUDA_LOG = join(work, 'calls');
    process.env.FAKE_CUDA_STATE = 'process';
    writeFileSync(process.env.FAKE_CUDA_LOG, '');
    const store = parseS3Url(`s3://${s3.bucket}/gpu`);
    docs = new S3Documents(s3ClientFromEnv(s3.env), store);
    t = await startTestDaemon({ nvidiaSmi: gpu.nvidiaSmi, nvidiaDriverRoot: gpu.root, cudaCheckpoint: FAKE_CUDA_CHECKPOINT, store: { ...store, env: s3.env } });
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      gpu?.cleanup();
      rmSync(work, { recursive: true, force: true });
      await s3?.stop();
    }
  });

  it('a stopping GPU snapshot is chunks and a manifest in the bucket; with the data dir\'s copy gone and the daemon restarted, it resumes with its count and CUDA state', async () => {
    const r = await cli(t.url, ['create', '--name', 'g1', '--gpus', '1', '--', 'sh', '-c', COUNTER]);
    assert.equal(r.code, 0, r.stderr);
    await until('the counter', async () => ((await count('g1')) > 5 ? true : undefined));
    const snap = await snapshot(t, 'g1', 'g1-stop');
    assert.equal(snap.status, 'ready');
    const dir = t.daemon.ctx.snapshots.dirOf(snap.id);
    assert.deepEqual(readdirSync(dir), ['manifest.json'], 'nothing of it is kept whole in the data dir');
    const stored = JSON.parse((await docs.get(`manifests/${snap.id}.json`))!.toString('utf8')) as { gpu?: { uuids: string[] }; files: Record<string, { chunks?: string[] }> };
    assert.deepEqual(stored.gpu?.uuids, [gpu.gpus[0]!.uuid]);
    for (const [rel, f] of Object.entries(stored.files)) assert.ok(f.chunks, `${rel} is chunks`);
    assert.ok(Object.keys(stored.files).includes('gpu.json'), 'the GPU state is in it');

    rmSync(dir, { recursive: true, force: true });
    await t.restart();
    writeFileSync(process.env.FAKE_CUDA_LOG!, '');
    await restore(t, 'g1-stop');
    assert.ok(existsSync(join(dir, 'manifest.json')), 'the manifest was fetched into the data dir again');
    const pid = Number(calls()[0]!.split(' ')[1]);
    assert.deepEqual(calls(), [`restore ${pid}`, `unlock ${pid}`]);
    const n = await count('g1');
    assert.ok(n > 5, `the count went on from where it was (${n})`);
  });

  it('a GPU cold image is chunks too; with its cold directory gone and the daemon restarted, the sandbox wakes from the bucket', async () => {
    const id = (await t.api.call('getSandbox', { params: { name: 'g1' } })).id;
    await t.api.call('freezeSandbox', { params: { name: 'g1' } });
    const coldDir = t.daemon.ctx.thermal.coldDir(id);
    assert.deepEqual(readdirSync(coldDir), ['cold.json']);
    assert.ok(await docs.has(`cold/${id}.json`));
    rmSync(coldDir, { recursive: true, force: true });
    await t.restart();
    writeFileSync(process.env.FAKE_CUDA_LOG!, '');
    const woke = await count('g1'); // the exec wakes it
    assert.ok(woke > 5, `the count went on (${woke})`);
    assert.match(calls()[0]!, /^restore \d+/);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'g1' } })).thermal, 'hot');
    assert.equal(await docs.has(`cold/${id}.json`), false, 'a woken image\'s chunk list goes from the bucket');
  });
});
