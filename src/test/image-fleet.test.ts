import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageT, MoveResultT, ProgressEventT, SandboxT } from '../api/index.js';
import { BothubError } from '../core/index.js';
import { startTestDaemon, TEST_IMAGES_DIR, type TestDaemon } from './helpers/daemon.js';
import { LayoutBuilder, startRegistry, tinyRootfs, type TestRegistry } from './helpers/registry.js';
import { put, sh, snapshot, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

/** A store of its own, with the shared default image linked in: layer counts are checked, and nothing lands in the shared one. */
function ownStore(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(TEST_IMAGES_DIR, 'debian'), join(dir, 'debian'));
  return dir;
}

const layerIds = (store: string) => {
  try {
    return readdirSync(join(store, '.layers'))
      .filter((e) => !e.startsWith('.'))
      .sort();
  } catch {
    return [];
  }
};

/**
 * Images and the fleet: a sandbox on a pulled or saved image moves to a host
 * that lacks the image (its missing layers are sent, only those), and an
 * image a snapshot stands on is not removed, so its layers are never freed
 * under the snapshot.
 */
describe('images travel with their sandboxes, and GC spares what snapshots need', () => {
  let t: TestDaemon;
  let registry: TestRegistry;
  let a: TestSshHost;
  let work: string;
  const store = () => join(work, 'images');
  const hostStore = () => join(a.dataDir, 'images');

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bothub-imgfleet-'));
    registry = await startRegistry();
    const base = join(work, 'l1');
    tinyRootfs(base);
    const layout = new LayoutBuilder(work);
    const app = layout.manifest([layout.layer(base)], { Entrypoint: [], Cmd: ['sleep', '100000'], Env: ['PATH=/usr/bin:/bin'], WorkingDir: '/root', User: '' });
    layout.tag('app', app);
    layout.push('app', `${registry.host}/test/app:v1`);
    t = await startTestDaemon({ imagesDir: ownStore(store()) });
    a = await startSshHost();
    ownStore(hostStore()); // the host's agent has only the default image
    await until('host-a added', () => t.api.call('addHost', { body: { name: 'host-a', ssh: `root@${a.address}`, privateKey: readFileSync(a.keyFile, 'utf8'), dataDir: a.dataDir } }), 120_000);
    await t.api.progress<ImageT>('pullImage', { body: { reference: `${registry.host}/test/app:v1`, name: 'app' } }, () => undefined);
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await a?.cleanup();
      await registry?.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  const move = async (name: string) => {
    const events: ProgressEventT[] = [];
    const r = await t.api.progress<MoveResultT>('moveSandbox', { params: { name }, body: { to: 'host-a' } }, (p) => events.push(p));
    return { r, events };
  };

  it('moves a sandbox on a saved image to a host that lacks it: the layers go first, then its state', async () => {
    await t.api.call('createSandbox', { body: { name: 'maker', image: 'app', command: ['sleep', '100000'], host: 'local' } });
    await put(t, 'maker', '/root/baked', 'in the saved layer\n');
    await t.api.progress<ImageT>('saveImage', { params: { name: 'maker' }, body: { name: 'baked' } }, () => undefined);
    await t.api.call('destroySandbox', { params: { name: 'maker' } });
    const baked = await t.api.call('getImage', { params: { name: 'baked' } });
    assert.equal(baked.layers?.length, 2);
    assert.deepEqual(layerIds(hostStore()), [], 'the host has none of its layers');

    await t.api.call('createSandbox', { body: { name: 'traveller', image: 'baked', command: ['sleep', '100000'], host: 'local' } });
    await put(t, 'traveller', '/root/state', 'written before the move\n');
    const { r, events } = await move('traveller');
    assert.equal(r.to, 'host-a');
    assert.ok(
      events.some((e) => e.step === 'image' && /2 layer\(s\) sent, 0 there already/.test(e.message ?? '')),
      `progress told of the image: ${JSON.stringify(events.filter((e) => e.step === 'image'))}`,
    );
    assert.deepEqual(layerIds(hostStore()), [...(baked.layers ?? [])].sort(), 'the host has exactly the image’s layers');
    assert.equal(await sh(t, 'traveller', 'cat /root/baked /root/state'), 'in the saved layer\nwritten before the move\n');

    // A second sandbox on the pulled image below it: every layer is there already, none is sent again.
    await t.api.call('createSandbox', { body: { name: 'second', image: 'app', command: ['sleep', '100000'], host: 'local' } });
    const again = await move('second');
    assert.ok(again.events.some((e) => e.step === 'image' && /0 layer\(s\) sent, 1 there already/.test(e.message ?? '')));
    assert.equal(await sh(t, 'second', 'echo up'), 'up\n');
    for (const name of ['traveller', 'second']) await t.api.call('destroySandbox', { params: { name } });
  });

  it('an image a snapshot stands on is not removed (its layers stay); once the snapshot goes, only its own layer is freed', async () => {
    await t.api.call('createSandbox', { body: { name: 'snapper', image: 'baked', command: ['sleep', '100000'], host: 'local' } });
    await put(t, 'snapper', '/root/kept', 'in the snapshot\n');
    await snapshot(t, 'snapper', 'on-baked');
    await t.api.call('destroySandbox', { params: { name: 'snapper' } });
    const before = layerIds(store());

    const refused = await t.api.call('removeImage', { params: { name: 'baked' } }).catch((e: BothubError) => e);
    assert.ok(refused instanceof BothubError);
    assert.equal(refused.code, 'IN_USE');
    assert.match(refused.message, /image "baked" is under snapshot on-baked, whose restore needs it; delete it first/);
    assert.deepEqual(layerIds(store()), before, 'no layer was freed');
    const back = await t.api.progress<SandboxT>('restoreSnapshot', { params: { name: 'on-baked' }, body: { name: 'back' } }, () => undefined);
    assert.equal(back.image, 'baked');
    assert.equal(await sh(t, 'back', 'cat /root/baked /root/kept'), 'in the saved layer\nin the snapshot\n');
    await t.api.call('destroySandbox', { params: { name: 'back' } });
    await t.api.call('deleteSnapshot', { params: { name: 'on-baked' } });

    const app = await t.api.call('getImage', { params: { name: 'app' } });
    await t.api.call('removeImage', { params: { name: 'baked' } });
    assert.deepEqual(layerIds(store()), [...(app.layers ?? [])].sort(), 'the pulled image’s layer stays, the saved one is freed');
  });
});
