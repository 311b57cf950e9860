import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConsistencyReportT } from '../api/index.js';
import { parseSubnet } from '../core/index.js';
import { LocalHost } from '../hostexec/index.js';
import { createSandboxNetwork, removeSandboxNetwork } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const BIN = fileURLToPath(new URL('../../bin/bothub', import.meta.url));
const kinds = (r: ConsistencyReportT) => r.problems.map((p) => `${p.kind} ${p.subject}`);

describe('doctor --consistency', () => {
  let t: TestDaemon;
  const check = () => t.api.call('doctorConsistency', { query: {} });

  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('finds nothing wrong with a daemon whose sandboxes are running, warm, cold, stopped and snapshotted, and restores every snapshot with --deep', async () => {
    for (const name of ['hot', 'warm', 'cold', 'stopped', 'snapped']) await t.api.call('createSandbox', { body: { name, network: name === 'hot' ? 'peers' : 'default' } });
    await t.api.call('createSandbox', { body: { name: 'peer2', network: 'peers' } });
    await t.api.call('pauseSandbox', { params: { name: 'warm' } });
    await t.api.call('freezeSandbox', { params: { name: 'cold' } });
    await t.api.call('stopSandbox', { params: { name: 'stopped' } });
    await t.api.progress('createSnapshot', { params: { name: 'snapped' }, body: { name: 'snap-1' } }, () => undefined);
    await t.api.progress('createSnapshot', { params: { name: 'hot' }, body: { name: 'snap-2', leaveRunning: true } }, () => undefined);

    const r = await check();
    assert.deepEqual(kinds(r), []);
    assert.equal(r.ok, true);
    assert.equal(r.checked.sandboxes, 6);
    assert.equal(r.checked.snapshots, 2);

    const deep = await t.api.call('doctorConsistency', { query: { deep: true } });
    assert.deepEqual(kinds(deep), []);
    assert.equal(deep.checked.restored, 2);
    // The throw-away branches are gone again, and left nothing behind.
    assert.equal((await t.api.call('listSandboxes')).length, 6);
    assert.deepEqual(kinds(await check()), []);
  });

  it('reports a stray network namespace with its veth, a stray snapshot directory and a container whose record says stopped; the CLI exits non-zero', async () => {
    const host = new LocalHost();
    const strayId = 'feedfacecafe';
    // What a create killed after its network was made leaves: a namespace with its veth on the bridge.
    const address = t.config.subnet.replace(/\.0\/24$/, '.250');
    await createSandboxNetwork(host, strayId, address, parseSubnet(t.config.subnet), t.config.bridge);
    const strayDir = join(t.daemon.ctx.snapshots.dir, '0123456789ab');
    await mkdir(strayDir);
    const liar = await t.api.call('createSandbox', { body: { name: 'liar' } });
    await t.daemon.db.updateTable('sandboxes').set({ status: 'stopped' }).where('id', '=', liar.id).execute();
    try {
      const found = kinds(await check());
      assert.ok(found.includes(`orphan-netns bothub-${strayId}`), found.join('\n'));
      assert.ok(found.includes(`orphan-veth bh${strayId}`), found.join('\n'));
      assert.ok(found.includes(`orphan-dir ${strayDir}`), found.join('\n'));
      assert.ok(found.includes('orphan-container liar'), found.join('\n'));
      assert.ok(found.includes('orphan-mount liar'), found.join('\n'));

      const cli = await promisify(execFile)(process.execPath, [BIN, 'doctor', '--consistency'], { env: { ...process.env, BOTHUB_URL: t.url, BOTHUB_TOKEN: t.adminKey } }).then(
        () => ({ code: 0, stdout: '' }),
        (e: { code: number; stdout: string }) => e,
      );
      assert.equal(cli.code, 1);
      assert.match(cli.stdout, new RegExp(`orphan-netns bothub-${strayId}: .* — \`ip netns del bothub-${strayId}\``));
      assert.match(cli.stdout, /problem\(s\): 7 sandbox\(es\)/);
    } finally {
      await removeSandboxNetwork(host, strayId);
      await rm(strayDir, { recursive: true, force: true });
      await t.daemon.db.updateTable('sandboxes').set({ status: 'running' }).where('id', '=', liar.id).execute();
    }
    assert.deepEqual(kinds(await check()), []);
  });
});
