import assert from 'node:assert/strict';
import { chownSync, existsSync, symlinkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImageT } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, TEST_IMAGES_DIR, type TestDaemon } from './helpers/daemon.js';
import { LayoutBuilder, startRegistry, tinyRootfs, type TestRegistry } from './helpers/registry.js';
import { sh, until } from './helpers/sandbox.js';

const USER = 'tester';
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-secret`;

/**
 * Real registries (Debian's docker-registry on loopback, one open, one behind
 * basic auth), test images made here and put in with skopeo: pull by tag and
 * digest, whiteouts, multi-arch, the image's config, save, push, export/import.
 */
describe('images from registries', () => {
  let t: TestDaemon;
  let open: TestRegistry;
  let locked: TestRegistry;
  let work: string;
  let appDigest: string;
  const layersDir = () => join(work, 'images', '.layers');

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'bothub-reg-'));
    [open, locked] = await Promise.all([startRegistry(), startRegistry({ username: USER, password: PASSWORD })]);
    // A store of its own (layer counts are checked), with the shared default image linked in.
    mkdirSync(join(work, 'images'));
    symlinkSync(join(TEST_IMAGES_DIR, 'debian'), join(work, 'images', 'debian'));
    t = await startTestDaemon({ imagesDir: join(work, 'images'), logLevel: 'debug' });

    // Layer 1: a small root with a user, a file to delete and a directory to make opaque.
    const base = join(work, 'l1');
    tinyRootfs(base);
    writeFileSync(join(base, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    writeFileSync(join(base, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
    writeFileSync(join(base, 'etc/doomed'), 'x');
    mkdirSync(join(base, 'opt/keep'), { recursive: true });
    writeFileSync(join(base, 'opt/keep/old'), 'old');
    mkdirSync(join(base, 'home/app'), { recursive: true });
    chownSync(join(base, 'home/app'), 1000, 1000);
    // Layer 2: a whiteout, an opaque directory with a new file, an added file.
    const top = join(work, 'l2');
    mkdirSync(join(top, 'etc'), { recursive: true });
    mkdirSync(join(top, 'opt/keep'), { recursive: true });
    writeFileSync(join(top, 'etc/.wh.doomed'), '');
    writeFileSync(join(top, 'opt/keep/.wh..wh..opq'), '');
    writeFileSync(join(top, 'opt/keep/new'), 'new');
    writeFileSync(join(top, 'etc/added'), 'layer two\n');

    const layout = new LayoutBuilder(work);
    const l1 = layout.layer(base);
    const l2 = layout.layer(top);
    const config = (arch: string) => ({
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo "uid=$(id -u) cwd=$(pwd) greeting=$GREETING arch=$ARCH" > /home/app/out; exec sleep 100000'],
      Env: ['PATH=/usr/bin:/bin', 'GREETING=hello', `ARCH=${arch}`],
      WorkingDir: '/home/app',
      User: 'app',
    });
    const amd = layout.manifest([l1, l2], config('amd64'));
    const arm = layout.manifest([l1, l2], config('arm64'), 'arm64');
    appDigest = amd.digest;
    layout.tag('app', amd);
    layout.tag('multi', layout.index([{ manifest: arm, architecture: 'arm64' }, { manifest: amd, architecture: 'amd64' }]));
    layout.push('app', `${open.host}/test/app:v1`);
    layout.push('multi', `${open.host}/test/multi:v1`);
    layout.push('app', `${locked.host}/test/private:v1`, { username: USER, password: PASSWORD });
  });

  after(async () => {
    for (const i of (await t?.api.call('listImages').catch(() => [] as ImageT[])) ?? []) if (i.name !== 'debian') await t.api.call('removeImage', { params: { name: i.name } }).catch(() => undefined);
    try {
      await t?.cleanup();
    } finally {
      await Promise.all([open?.stop(), locked?.stop()]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('pulls by tag: layers with whiteouts and opaque dirs, the config honoured by create and shown by inspect', async () => {
    const r = await cli(t.url, ['--json', 'image', 'pull', `${open.host}/test/app:v1`, '--name', 'app']);
    assert.equal(r.code, 0, r.stderr);
    const img = JSON.parse(r.stdout) as ImageT;
    assert.equal(img.digest, appDigest);
    assert.equal(img.layers?.length, 2);
    const inspect = JSON.parse((await cli(t.url, ['image', 'inspect', 'app'])).stdout) as ImageT;
    assert.deepEqual(inspect.config?.entrypoint, ['/bin/sh', '-c']);
    assert.equal(inspect.config?.user, 'app');
    assert.equal(inspect.config?.workingDir, '/home/app');

    await t.api.call('createSandbox', { body: { name: 'from-app', image: 'app' } });
    const out = await until('the entrypoint wrote its line', async () => {
      const s = await t.api.call('exec', { params: { name: 'from-app' }, body: { command: ['cat', '/home/app/out'] } });
      return s.exitCode === 0 ? s.stdout : undefined;
    }).catch(async (e: Error) => {
      throw new Error(`${e.message}; console: ${(await cli(t.url, ['logs', 'from-app'])).stdout}`);
    });
    assert.equal(out, 'uid=1000 cwd=/home/app greeting=hello arch=amd64\n');
    const files = await sh(t, 'from-app', 'cat /etc/added; test -e /etc/doomed && echo doomed-still-there; ls /opt/keep');
    assert.equal(files, 'layer two\nnew\n');
    await t.api.call('destroySandbox', { params: { name: 'from-app' } });
  });

  it('pulls by digest sharing the layers on disk, resolves a multi-arch index, and refuses a bad digest', async () => {
    const before = readdirSync(layersDir()).filter((e) => !e.startsWith('.')).length;
    const byDigest = await cli(t.url, ['--json', 'image', 'pull', `${open.host}/test/app@${appDigest}`, '--name', 'app-pinned']);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    assert.equal((JSON.parse(byDigest.stdout) as ImageT).digest, appDigest);
    assert.equal(readdirSync(layersDir()).filter((e) => !e.startsWith('.')).length, before, 'the second image reuses the layers');

    const multi = await cli(t.url, ['--json', 'image', 'pull', `${open.host}/test/multi:v1`, '--name', 'multi']);
    assert.equal(multi.code, 0, multi.stderr);
    assert.ok((JSON.parse(multi.stdout) as ImageT).config?.env.includes('ARCH=amd64'));

    const bad = await cli(t.url, ['image', 'pull', `${open.host}/test/app@sha256:${'0'.repeat(64)}`, '--name', 'bad']);
    assert.equal(bad.code, 3, bad.stderr);
    assert.ok(!(await t.api.call('listImages')).some((i) => i.name === 'bad'));
  });

  it('pulls from a registry with basic auth only after login; the password never shows in the clear', async () => {
    const ref = `${locked.host}/test/private:v1`;
    const denied = await cli(t.url, ['image', 'pull', ref, '--name', 'private']);
    assert.equal(denied.code, 77, denied.stderr);
    const login = await cli(t.url, ['registry', 'login', locked.host, '--username', USER, '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    assert.match((await cli(t.url, ['registry', 'list'])).stdout, new RegExp(`${locked.host}\\s+${USER}`));

    // Watch every process's command line while the pull runs.
    let seen = false;
    let pulling = true;
    const watch = (async () => {
      while (pulling) {
        for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
          const cmd = (() => {
            try {
              return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            } catch {
              return '';
            }
          })();
          if (cmd.includes(PASSWORD) || cmd.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'))) seen = true;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const pulled = await cli(t.url, ['image', 'pull', ref, '--name', 'private']);
    pulling = false;
    await watch;
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(seen, false, 'the password appeared in a process list');

    const db = readFileSync(join(t.config.dataDir, 'bothub.db')).toString('latin1');
    assert.ok(!db.includes(PASSWORD), 'the password is stored in the clear');
    if (t.logFile && existsSync(t.logFile)) assert.ok(!readFileSync(t.logFile, 'utf8').includes(PASSWORD), 'the password is in the log');
    assert.equal((await cli(t.url, ['registry', 'logout', locked.host])).code, 0);
    assert.equal((await cli(t.url, ['image', 'pull', ref, '--name', 'private-again'])).code, 77);
  });

  it('saves a sandbox as an image that costs one layer; push then pull returns the same digest; export and import', async () => {
    await t.api.call('createSandbox', { body: { name: 'to-save', image: 'app', command: ['sleep', '100000'] } });
    await sh(t, 'to-save', 'echo saved-content > /etc/saved; rm /etc/added');
    const saved = await cli(t.url, ['--json', 'image', 'save', 'to-save', '--name', 'saved']);
    assert.equal(saved.code, 0, saved.stderr);
    const img = JSON.parse(saved.stdout) as ImageT;
    assert.equal(img.layers?.length, 3);
    assert.equal((await t.api.call('getSandbox', { params: { name: 'to-save' } })).status, 'running');
    await sh(t, 'to-save', 'true');
    await t.api.call('createSandbox', { body: { name: 'from-saved', image: 'saved', command: ['sleep', '100000'] } });
    assert.equal(await sh(t, 'from-saved', 'cat /etc/saved; test -e /etc/added || echo added-gone'), 'saved-content\nadded-gone\n');

    const push = await cli(t.url, ['image', 'push', 'saved', `${open.host}/test/saved:v1`]);
    assert.equal(push.code, 0, push.stderr);
    const pushedDigest = push.stdout.trim();
    assert.match(pushedDigest, /^sha256:[a-f0-9]{64}$/);
    const back = await cli(t.url, ['--json', 'image', 'pull', `${open.host}/test/saved:v1`, '--name', 'saved-back']);
    assert.equal(back.code, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as ImageT).digest, pushedDigest);

    const file = join(work, 'saved.tar');
    assert.equal((await cli(t.url, ['image', 'export', 'saved', file])).code, 0);
    const imported = await cli(t.url, ['--json', 'image', 'import', file, '--name', 'saved-imported']);
    assert.equal(imported.code, 0, imported.stderr);
    assert.equal((JSON.parse(imported.stdout) as ImageT).source, 'oci-archive');
    await t.api.call('createSandbox', { body: { name: 'from-import', image: 'saved-imported', command: ['sleep', '100000'] } });
    assert.equal(await sh(t, 'from-import', 'cat /etc/saved; ls /opt/keep'), 'saved-content\nnew\n');
    for (const name of ['to-save', 'from-saved', 'from-import']) await t.api.call('destroySandbox', { params: { name } });
  });

  it('removing images frees only the layers no other image uses', async () => {
    const count = () => readdirSync(layersDir()).filter((e) => !e.startsWith('.')).length;
    const before = count();
    await t.api.call('removeImage', { params: { name: 'app-pinned' } });
    assert.equal(count(), before, 'app still uses those layers');
    for (const name of ['saved', 'saved-back', 'saved-imported']) await t.api.call('removeImage', { params: { name } });
    assert.equal(count(), 2, 'only the pulled layers are left');
  });
});
