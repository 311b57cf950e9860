import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { restore, sh, snapshot, until } from './helpers/sandbox.js';

describe('secrets', () => {
  let t: TestDaemon;
  const VALUE = 'sk-live-7f3a9c1e5b2d4680aa11bb22cc33dd44';
  before(async () => {
    t = await startTestDaemon({ logLevel: 'trace' });
  });
  after(async () => {
    await t.cleanup();
  });

  it('sets from stdin, exposes to the sandbox as env, and never shows the value again', async () => {
    const set = await cli(t.url, ['secret', 'set', 'OPENAI_KEY'], `${VALUE}\n`);
    assert.equal(set.code, 0, set.stderr);
    const list = await cli(t.url, ['--json', 'secret', 'list']);
    assert.equal(list.stdout.includes(VALUE), false);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name),
      ['OPENAI_KEY'],
    );
    const create = await cli(t.url, ['create', '--name', 'sec', '--secret', 'OPENAI_KEY', '--', 'sh', '-c', 'echo main sees ${#OPENAI_KEY} chars; exec sleep 1000']);
    assert.equal(create.code, 0, create.stderr);
    assert.equal(await sh(t, 'sec', 'printf %s "$OPENAI_KEY"'), VALUE);
    const inspect = await cli(t.url, ['inspect', 'sec']);
    assert.equal(inspect.stdout.includes(VALUE), false);
    assert.match(inspect.stdout, /"secrets": \[\s*"OPENAI_KEY"\s*\]/);
    await until('the main command', async () =>
      (await (await t.api.fetch('logs', { params: { name: 'sec' }, query: {} })).text()).includes('main sees 40 chars') ? true : undefined,
    );
    const missing = await cli(t.url, ['create', '--secret', 'NOPE']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no secret named "NOPE"; set it first/);
  });

  it('is not in the database file, the daemon log, the sandbox config, snapshot or cold directories in clear', async () => {
    // The main command (sleep) holds the value in its environment, so it is in the sandbox's memory pages.
    const snap = await snapshot(t, 'sec', 'sec-snap', true);
    assert.equal(snap.encrypted, true);
    await t.api.call('freezeSandbox', { params: { name: 'sec' } });
    const needle = Buffer.from(VALUE);
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
    const sb = await t.api.call('getSandbox', { params: { name: 'sec' } });
    const checked = [
      ...files(t.config.dataDir).filter((f) => /bothub\.db/.test(f)),
      ...files(join(t.config.dataDir, 'snapshots')),
      ...files(join(t.config.dataDir, 'cold')),
      join(t.config.dataDir, 'sandboxes', sb.id, 'config.json'),
      t.logFile!,
    ];
    for (const f of checked) assert.equal(readFileSync(f).includes(needle), false, `${f} holds the secret in clear`);
    assert.ok(checked.length > 5);
    assert.match(readFileSync(t.logFile!, 'utf8'), /"url":"\/api\/v1\/secrets\/OPENAI_KEY"/, 'the log did see the request');
    assert.ok(
      checked.some((f) => f.includes('/cold/')),
      'the cold images were checked',
    );
    assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes('clear-images'), 'no clear copy is left mounted');
  });

  it('encrypted snapshots and cold sandboxes come back with the value where it was', async () => {
    assert.equal(await sh(t, 'sec', 'tr "\\0" "\\n" < /proc/$(pidof sleep)/environ | grep ^OPENAI_KEY='), `OPENAI_KEY=${VALUE}\n`);
    await restore(t, 'sec-snap', 'sec-branch');
    assert.equal(await sh(t, 'sec-branch', 'tr "\\0" "\\n" < /proc/$(pidof sleep)/environ | grep ^OPENAI_KEY='), `OPENAI_KEY=${VALUE}\n`);
    await t.api.call('destroySandbox', { params: { name: 'sec-branch' } });
    // No main command: an empty console log, encrypted to nothing but its tag, must open too.
    await t.api.call('createSandbox', { body: { name: 'sec-quiet', secrets: ['OPENAI_KEY'] } });
    assert.equal((await snapshot(t, 'sec-quiet', 'sec-quiet-snap', true)).encrypted, true);
    await restore(t, 'sec-quiet-snap', 'sec-quiet-branch');
    assert.equal(await sh(t, 'sec-quiet-branch', 'printf %s "$OPENAI_KEY"'), VALUE);
    await Promise.all(['sec-quiet', 'sec-quiet-branch'].map((name) => t.api.call('destroySandbox', { params: { name } })));
  });
});
