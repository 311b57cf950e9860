import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BothubError } from '../core/index.js';
import { cli } from './helpers/cli.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';

/** The error a call was refused with (it must be refused). */
async function refusal(p: Promise<unknown>): Promise<BothubError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof BothubError, `expected a refusal, got ${String(e)}`);
  return e;
}

/**
 * A quota the admin changes after the user exists: the refusal says how
 * (`PUT /api/v1/users/NAME/quota`, `bothub user quota NAME --max-…` in the
 * CLI), raising it lets the next sandbox in, lowering it below what the user
 * holds stops nothing that runs and refuses what would take more.
 */
describe('user quotas changed by the admin', () => {
  let t: InjectDaemon;
  before(async () => {
    t = await startInjectDaemon();
  });
  after(() => t.cleanup());

  it('raise, lower and remove a limit; the refusal names the call that raises it', async () => {
    const { key } = await t.api.call('createUser', { body: { name: 'bob', quota: { maxSandboxes: 1 } } });
    const bob = t.as(key);
    await bob.call('createSandbox', { body: { name: 'bob-1' } });
    const full = await refusal(bob.call('createSandbox', { body: { name: 'bob-2' } }));
    assert.equal(full.code, 'LIMIT_EXCEEDED');
    assert.match(full.message, /ask the admin to raise it \(`PUT \/api\/v1\/users\/bob\/quota \{"maxSandboxes": N\}`\)$/);

    const raised = await t.api.call('setUserQuota', { params: { name: 'bob' }, body: { maxSandboxes: 2, maxMemoryMb: 4096 } });
    assert.deepEqual(raised.quota, { maxSandboxes: 2, maxMemoryMb: 4096, maxSnapshotBytes: null, maxDiskMb: null, maxGpus: null });
    await bob.call('createSandbox', { body: { name: 'bob-2' } });

    // Lowered below what bob holds: both keep running, a third is refused.
    await t.api.call('setUserQuota', { params: { name: 'bob' }, body: { maxSandboxes: 0 } });
    assert.deepEqual((await bob.call('listSandboxes')).map((s) => `${s.name}:${s.status}`).sort(), ['bob-1:running', 'bob-2:running']);
    assert.equal((await refusal(bob.call('createSandbox', { body: { name: 'bob-3' } }))).code, 'LIMIT_EXCEEDED');

    // null removes the limit; the limits not named stay as they were.
    const removed = await t.api.call('setUserQuota', { params: { name: 'bob' }, body: { maxSandboxes: null } });
    assert.equal(removed.quota.maxSandboxes, null);
    assert.equal(removed.quota.maxMemoryMb, 4096);
    await bob.call('createSandbox', { body: { name: 'bob-3' } });
  });

  it('refuses what cannot be a quota change, with a line that says why', async () => {
    assert.equal((await refusal(t.api.call('setUserQuota', { params: { name: 'nobody' }, body: { maxGpus: 1 } }))).code, 'NOT_FOUND');
    const admin = await refusal(t.api.call('setUserQuota', { params: { name: 'admin' }, body: { maxGpus: 1 } }));
    assert.equal(admin.code, 'INVALID_STATE');
    assert.match(admin.message, /the admin has no quota/);
    assert.equal((await refusal(t.api.call('setUserQuota', { params: { name: 'bob' }, body: {} }))).code, 'INVALID_INPUT');
    assert.equal((await refusal(t.api.call('setUserQuota', { params: { name: 'bob' }, body: { maxGpus: -1 } }))).code, 'INVALID_INPUT');
    const { key } = await t.api.call('createUser', { body: { name: 'eve' } });
    assert.equal((await refusal(t.as(key).call('setUserQuota', { params: { name: 'eve' }, body: { maxSandboxes: 100 } }))).code, 'FORBIDDEN');
  });

  it('the CLI: `user quota` shows and changes limits, and a refusal names that command', async () => {
    const { key } = await t.api.call('createUser', { body: { name: 'carol', quota: { maxSandboxes: 1 } } });
    const env = { BOTHUB_TOKEN: key };
    assert.equal((await cli(t.url, ['create', '--name', 'carol-1'], undefined, env)).code, 0);
    const refused = await cli(t.url, ['create', '--name', 'carol-2'], undefined, env);
    assert.equal(refused.code, 6, refused.stderr);
    assert.match(refused.stderr, /ask the admin to raise it \(`bothub user quota carol --max-sandboxes N`\)\n$/);

    const set = await cli(t.url, ['user', 'quota', 'carol', '--max-sandboxes', '3', '--max-disk', '20G', '--max-gpus', 'none']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^NAME +MAX SANDBOXES +MAX MEMORY +MAX DISK +MAX GPUS +MAX SNAPSHOTS\ncarol +3 +- +20G +- +-\n$/);
    const shown = await cli(t.url, ['user', 'quota', 'carol', '--json']);
    assert.deepEqual(JSON.parse(shown.stdout).quota, { maxSandboxes: 3, maxMemoryMb: null, maxSnapshotBytes: null, maxDiskMb: 20480, maxGpus: null });
    const bad = await cli(t.url, ['user', 'quota', 'carol', '--max-sandboxes', 'many']);
    assert.equal(bad.stderr, 'bothub: invalid --max-sandboxes "many": give a whole number (0 or more), or none for no limit\n');
  });
});
