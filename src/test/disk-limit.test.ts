import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalHost } from '../hostexec/index.js';
import { isMounted, loopDevicesUnder } from '../runtime/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { put, restore, sh, snapshot, until } from './helpers/sandbox.js';

const MiB = 1024 * 1024;

/**
 * --disk: each sandbox's writable layer is an ext4 image of its own on a loop
 * device, so the kernel enforces the size: a process filling it gets ENOSPC,
 * and the host's disk and every other sandbox are untouched. Real dd, real
 * loop devices, real CRIU for snapshots, branches and cold sandboxes.
 */
describe('per-sandbox disk limits', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(() => t.cleanup());

  const id = async (name: string) => (await t.api.call('getSandbox', { params: { name } })).id;
  const image = async (name: string) => join(t.config.dataDir, 'sandboxes', await id(name), 'disk.img');
  /** Loop devices backed by this sandbox's image. */
  const loops = async (name: string) => {
    const file = await image(name);
    return (await loopDevicesUnder(new LocalHost(), t.config.dataDir)).filter((l) => l.backingFile === file);
  };
  const released = (name: string) => until(`${name}'s loop device detached`, async () => ((await loops(name)).length === 0 ? true : undefined), 5000);
  /** What `df` inside says the root has, in MiB. */
  const rootSizeMb = async (name: string) => Number((await sh(t, name, 'df -m --output=size / | tail -1')).trim());
  const fill = async (name: string, path: string) =>
    (await t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', `dd if=/dev/zero of=${path} bs=1M count=200 2>&1; echo "exit=$?"`] } })).stdout;

  it('a process filling its layer gets ENOSPC; the host gives it no more than its size, and another sandbox writes on', async () => {
    const small = await t.api.call('createSandbox', { body: { name: 'small', diskMb: 64 } });
    await t.api.call('createSandbox', { body: { name: 'roomy', diskMb: 256 } });
    assert.equal(small.diskMb, 64);
    const size = await rootSizeMb('small');
    assert.ok(size > 40 && size <= 64, `df inside shows the limit (${size} MiB)`);
    assert.equal((await loops('small')).length, 1, 'one loop device while it runs');

    const out = await fill('small', '/fill');
    assert.match(out, /No space left on device/);
    assert.match(out, /exit=1/);
    // Sparse image: the host's disk spent on it is at most its size, however hard the sandbox writes.
    const spent = statSync(await image('small')).blocks * 512;
    assert.ok(spent <= 64 * MiB, `the image takes ${spent} bytes of the host's disk`);
    assert.ok(spent > 30 * MiB, 'and it did take what the sandbox wrote');

    assert.equal((await sh(t, 'roomy', 'dd if=/dev/zero of=/f bs=1M count=100 2>/dev/null && rm /f && echo written')).trim(), 'written');
    // Freed space is usable again.
    assert.equal((await sh(t, 'small', 'rm /fill && echo back > /after && cat /after')).trim(), 'back');
  });

  it('keeps its files and its limit through stop and start, cold and wake, a snapshot and a branch; the loop device goes whenever it does not run', async () => {
    await put(t, 'small', '/root/keep', 'kept\n');
    await t.api.call('stopSandbox', { params: { name: 'small' } });
    await released('small');
    assert.equal(await isMounted(new LocalHost(), join(t.config.dataDir, 'sandboxes', await id('small'), 'layer')), false);
    await t.api.call('startSandbox', { params: { name: 'small' } });
    assert.equal(await sh(t, 'small', 'cat /root/keep'), 'kept\n');
    assert.equal((await loops('small')).length, 1);

    await t.api.call('freezeSandbox', { params: { name: 'small' } });
    assert.equal((await t.api.call('getSandbox', { params: { name: 'small' } })).thermal, 'cold');
    await released('small');
    assert.equal(await sh(t, 'small', 'cat /root/keep'), 'kept\n'); // the exec wakes it
    assert.ok((await rootSizeMb('small')) <= 64, 'woken with the same limit');

    await snapshot(t, 'small', 'small-snap', true);
    const branch = await restore(t, 'small-snap', 'small-copy');
    assert.equal(branch.diskMb, 64, 'a branch has the limit of its snapshot');
    assert.equal(await sh(t, 'small-copy', 'cat /root/keep'), 'kept\n');
    assert.match(await fill('small-copy', '/fill'), /No space left on device/);
    assert.equal((await sh(t, 'small', 'dd if=/dev/zero of=/f bs=1M count=20 2>/dev/null && rm /f && echo fine')).trim(), 'fine', 'the original has its own space');
    await t.api.call('destroySandbox', { params: { name: 'small-copy' } });
    assert.equal((await loopDevicesUnder(new LocalHost(), t.config.dataDir)).filter((l) => l.backingFile.includes(branch.id)).length, 0);
  });

  it('a layer a dead daemon left mounted is released at the next start, its loop device detached', async () => {
    await t.api.call('stopSandbox', { params: { name: 'small' } });
    await released('small');
    // What a daemon killed mid-stop leaves: the layer still mounted on its loop device.
    const layer = join(t.config.dataDir, 'sandboxes', await id('small'), 'layer');
    execFileSync('mount', ['-t', 'ext4', '-o', 'loop', await image('small'), layer]);
    assert.equal((await loops('small')).length, 1);
    await t.restart();
    await released('small');
    assert.equal(await isMounted(new LocalHost(), layer), false);
    await t.api.call('startSandbox', { params: { name: 'small' } });
    assert.equal(await sh(t, 'small', 'cat /root/keep'), 'kept\n');
  });

  it('--disk takes sizes such as 96M; a size too small, or no size, is one clear line', async () => {
    const made = await cli(t.url, ['create', '--name', 'sized', '--disk', '96M']);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'sized' } })).diskMb, 96);
    const tiny = await cli(t.url, ['create', '--name', 'tiny', '--disk', '16M']);
    assert.equal(tiny.code, 2);
    assert.equal(tiny.stderr.trim(), 'bothub: invalid --disk 16M: give at least 32M and at most 16T');
    const words = await cli(t.url, ['create', '--name', 'tiny', '--disk', 'lots']);
    assert.equal(words.code, 2);
    assert.match(words.stderr, /invalid --disk "lots": give a size such as 512M, 2G or 1T/);
  });
});
