import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiClient, SandboxT, SnapshotT } from '../api/index.js';
import { BothubError, type Actor } from '../core/index.js';
import { incomingDir } from '../daemon/fleet/import-service.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const noProgress = () => undefined;

/** Refused by the quota, with this message. */
async function limited(p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof BothubError, `expected a refusal, got ${String(e)}`);
  assert.equal(e.code, 'LIMIT_EXCEEDED', e.message);
  assert.match(e.message, message);
}

/**
 * The one quota rule, driven at the limit on every path that makes a
 * sandbox or gives one a place: create, run, branch (the defect: a branch did
 * not check), restore of a stopped sandbox's and of a destroyed sandbox's
 * snapshot, start, import. Moves are in fleet.test.ts, a wake claiming GPUs
 * in gpu-sandboxes.test.ts.
 */
describe('quotas: one rule on every path', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(() => t.cleanup());

  async function user(name: string, quota: { maxSandboxes?: number; maxMemoryMb?: number; maxDiskMb?: number }): Promise<{ api: ApiClient; key: string; actor: Actor }> {
    const { key } = await t.api.call('createUser', { body: { name, quota } });
    const row = await t.daemon.db.selectFrom('users').select('id').where('name', '=', name).executeTakeFirstOrThrow();
    return { api: t.as(key), key, actor: { id: row.id, name, admin: false } };
  }
  const names = async (api: ApiClient) => (await api.call('listSandboxes')).map((s) => `${s.name}:${s.status}`).sort();
  const snap = (api: ApiClient, sandbox: string, name: string, leaveRunning: boolean) =>
    api.progress<SnapshotT>('createSnapshot', { params: { name: sandbox }, body: { name, leaveRunning } }, noProgress);
  const restore = (api: ApiClient, snapshot: string, name?: string) =>
    api.progress<SandboxT>('restoreSnapshot', { params: { name: snapshot }, body: name ? { name } : {} }, noProgress);
  /** The refusal at the limit; it names what raises it: the API's call, or through the CLI its command. */
  const literally = (text: string) => text.replace(/[.*+?^$|()[\]{}\\]/g, '\\$&');
  const full = (held: string, raise = '`PUT /api/v1/users/alice/quota {"maxSandboxes": N}`') =>
    new RegExp(`user alice may run 1 sandbox\\(es\\) and has 1 \\(${held}\\); destroy or stop one, or ask the admin to raise it \\(${literally(raise)}\\)`);
  const fullByCli = (held: string) => full(held, '`bothub user quota alice --max-sandboxes N`');

  it('--max-sandboxes 1: create, branch, restore, start and run are refused at the limit; stopping frees the place', async () => {
    const { api, key } = await user('alice', { maxSandboxes: 1 });
    await api.call('createSandbox', { body: { name: 'agent' } });
    await limited(api.call('createSandbox', { body: { name: 'second' } }), full('agent'));

    // The defect: branching a snapshot made a second running sandbox.
    await snap(api, 'agent', 'agent-live', true);
    await limited(restore(api, 'agent-live', 'branch'), full('agent'));
    assert.deepEqual(await names(api), ['agent:running'], 'the refused branch left no record');

    // `bothub run` makes its sandbox through the same rule.
    const project = mkdtempSync(join(tmpdir(), 'bothub-quota-run-'));
    try {
      writeFileSync(join(project, 'app.sh'), 'true\n');
      const run = await cli(t.url, ['run', '--name', 'web', '--', 'sh', 'app.sh'], undefined, { BOTHUB_TOKEN: key }, project);
      assert.equal(run.code, 6, run.stderr);
      assert.match(run.stderr, fullByCli('agent'));
    } finally {
      rmSync(project, { recursive: true, force: true });
    }

    // A sandbox stopped into its snapshot holds no place: another takes it, and restoring the snapshot is refused.
    await snap(api, 'agent', 'agent-stopped', false);
    await api.call('createSandbox', { body: { name: 'other' } });
    await limited(restore(api, 'agent-stopped'), full('other'));
    assert.equal((await api.call('getSandbox', { params: { name: 'agent' } })).status, 'snapshotted', 'it stays in its snapshot');

    // A stopped sandbox: start is refused while another runs.
    await api.call('stopSandbox', { params: { name: 'other' } });
    await restore(api, 'agent-stopped');
    await limited(api.call('startSandbox', { params: { name: 'other' } }), full('agent'));

    // The snapshot of a destroyed sandbox: a branch of it is a sandbox more.
    await api.call('destroySandbox', { params: { name: 'agent' } });
    await api.call('startSandbox', { params: { name: 'other' } });
    await limited(restore(api, 'agent-live', 'again'), full('other'));
    assert.deepEqual(await names(api), ['other:running']);
  });

  it('an import (a sandbox handed over by another host) is refused at the owner’s limit before anything is restored', async () => {
    const { api, actor } = await user('ivan', { maxSandboxes: 1 });
    await api.call('createSandbox', { body: { name: 'ivan-1', diskMb: 64 } });
    const dir = 'quota-import';
    mkdirSync(join(incomingDir(t.config.dataDir), dir), { recursive: true });
    const body = {
      name: 'ivan-2',
      image: 'debian',
      cpus: null,
      memoryMb: null,
      pidsLimit: 1024,
      network: 'default' as const,
      command: [],
      env: {},
      idleWarmMs: null,
      idleColdMs: null,
      keepHot: false,
      gpus: 0,
      diskMb: 64,
      dir,
      execs: [],
    };
    await limited(t.daemon.ctx.imports.adopt(body, actor), /user ivan may run 1 sandbox\(es\) and has 1 \(ivan-1\)/);
    assert.deepEqual(await names(api), ['ivan-1:running']);
    rmSync(join(incomingDir(t.config.dataDir), dir), { recursive: true, force: true });
  });

  it('concurrent creates at the limit: exactly one gets the last place', async () => {
    const { api } = await user('bob', { maxSandboxes: 1 });
    const results = await Promise.allSettled(['b1', 'b2', 'b3'].map((name) => api.call('createSandbox', { body: { name, diskMb: 64 } })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as BothubError).code, 'LIMIT_EXCEEDED');
    assert.equal((await names(api)).length, 1);
  });

  it('memory and disk: what the new sandbox asks for, added to what the user holds', async () => {
    const { api } = await user('carol', { maxMemoryMb: 600, maxDiskMb: 100 });
    await limited(api.call('createSandbox', { body: { name: 'c-big', memoryMb: 700, diskMb: 64 } }), /user carol may use 600 MB of memory and has 0 MB; this needs 700 MB more/);
    // No --disk: the daemon's default (10G) does not fit a 100M quota.
    await limited(api.call('createSandbox', { body: { name: 'c-default' } }), /user carol may use 100M of sandbox disk and has 0M; this needs 10G more: ask for less `diskMb`/);
    const c1 = await api.call('createSandbox', { body: { name: 'c1', diskMb: 64 } });
    assert.equal(c1.memoryMb, 512, 'a user with a memory quota gets the default limit, and it is what counts');
    assert.equal(c1.diskMb, 64);
    await limited(api.call('createSandbox', { body: { name: 'c2', memoryMb: 64, diskMb: 64 } }), /user carol may use 100M of sandbox disk and has 64M \(c1\); this needs 64M more/);
    await limited(api.call('createSandbox', { body: { name: 'c2', memoryMb: 128, diskMb: 32 } }), /user carol may use 600 MB of memory and has 512 MB \(c1\); this needs 128 MB more/);
    // A stopped sandbox keeps its files (disk counts) but not its memory.
    await api.call('stopSandbox', { params: { name: 'c1' } });
    const c2 = await api.call('createSandbox', { body: { name: 'c2', memoryMb: 128, diskMb: 32 } });
    assert.equal(c2.status, 'running');
    await limited(api.call('startSandbox', { params: { name: 'c1' } }), /may use 600 MB of memory and has 128 MB \(c2\); this needs 512 MB more/);
  });
});
