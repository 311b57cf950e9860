import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

/** A tiny rootfs: busybox-free, it borrows sh and its libraries from the debian image. */
function miniRootfs(t: TestDaemon, dir: string): void {
  const debian = t.daemon.ctx.images.rootfs('debian');
  execFileSync('cp', ['-a', `${debian}/.`, dir]);
}

describe('images', () => {
  let t: TestDaemon;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  before(async () => {
    t = await startTestDaemon();
    work = mkdtempSync(join(tmpdir(), 'bothub-img-'));
  });
  after(async () => {
    for (const name of [`dir-${suffix}`, `tar-${suffix}`, `docker-${suffix}`]) await t.api.call('removeImage', { params: { name } }).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    await t.cleanup();
  });

  it('imports a rootfs directory, runs a sandbox on it, and refuses to remove it while used', async () => {
    const root = join(work, 'rootfs');
    mkdirSync(root);
    miniRootfs(t, root);
    writeFileSync(join(root, 'etc/marker'), 'from-dir\n');
    const r = await cli(t.url, ['image', 'import', root, '--name', `dir-${suffix}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`image dir-${suffix} imported \\(tarball`));
    await t.api.call('createSandbox', { body: { name: 'on-dir', image: `dir-${suffix}` } });
    assert.equal((await t.api.call('exec', { params: { name: 'on-dir' }, body: { command: ['cat', '/etc/marker'] } })).stdout, 'from-dir\n');
    const rm = await cli(t.url, ['image', 'rm', `dir-${suffix}`]);
    assert.equal(rm.code, 5);
    assert.match(rm.stderr, /used by sandbox on-dir; destroy it first/);
    await t.api.call('destroySandbox', { params: { name: 'on-dir' } });
    assert.equal((await cli(t.url, ['image', 'rm', `dir-${suffix}`])).code, 0);
  });

  it('imports a `docker save` archive, applying layers and whiteouts in order', async () => {
    const layers = join(work, 'layers');
    const base = join(layers, 'base');
    const top = join(layers, 'top');
    mkdirSync(base, { recursive: true });
    mkdirSync(join(top, 'etc'), { recursive: true });
    miniRootfs(t, base);
    writeFileSync(join(base, 'etc/doomed'), 'x');
    writeFileSync(join(top, 'etc/added'), 'layer two\n');
    writeFileSync(join(top, 'etc/.wh.doomed'), '');
    const archive = join(work, 'docker');
    mkdirSync(join(archive, 'l1'), { recursive: true });
    mkdirSync(join(archive, 'l2'), { recursive: true });
    execFileSync('tar', ['-C', base, '-cf', join(archive, 'l1/layer.tar'), '.']);
    execFileSync('tar', ['-C', top, '-cf', join(archive, 'l2/layer.tar'), '.']);
    writeFileSync(join(archive, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['x:latest'], Layers: ['l1/layer.tar', 'l2/layer.tar'] }]));
    const file = join(work, 'image.tar');
    execFileSync('tar', ['-C', archive, '-cf', file, 'manifest.json', 'l1', 'l2']);
    const r = await cli(t.url, ['--json', 'image', 'import', file, '--name', `docker-${suffix}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { source: string }).source, 'docker-archive');
    await t.api.call('createSandbox', { body: { name: 'on-docker', image: `docker-${suffix}` } });
    const check = await t.api.call('exec', {
      params: { name: 'on-docker' },
      body: { command: ['sh', '-c', 'cat /etc/added; test -e /etc/doomed && echo still-there || echo whiteout-applied'] },
    });
    assert.equal(check.stdout, 'layer two\nwhiteout-applied\n');
    await t.api.call('destroySandbox', { params: { name: 'on-docker' } });
  });

  it('refuses a file that is no archive, and leaves no partial image', async () => {
    const junk = join(work, 'junk.bin');
    writeFileSync(junk, 'not a tar at all');
    const r = await cli(t.url, ['image', 'import', junk, '--name', `tar-${suffix}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a tar archive/);
    assert.ok(!(await t.api.call('listImages')).some((i) => i.name === `tar-${suffix}`));
  });
});
