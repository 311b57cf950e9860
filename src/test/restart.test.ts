import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { containerId } from '../runtime/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

describe('daemon restart', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('finds running sandboxes again, processes and all', async () => {
    await t.api.call('createSandbox', { body: { name: 'survivor' } });
    await t.api.call('exec', { params: { name: 'survivor' }, body: { command: ['sh', '-c', 'nohup sleep 1000 >/dev/null 2>&1 &'] } });
    await t.restart();
    const sb = await t.api.call('getSandbox', { params: { name: 'survivor' } });
    assert.equal(sb.status, 'running');
    const ps = await t.api.call('exec', { params: { name: 'survivor' }, body: { command: ['sh', '-c', 'ps -eo comm --no-headers | grep -c sleep'] } });
    assert.equal(ps.stdout, '1\n', 'the background process started before the restart still runs');
  });

  it('marks a sandbox whose processes vanished as exited, and it can start again', async () => {
    const sb = await t.api.call('createSandbox', { body: { name: 'vanish' } });
    await t.daemon.close();
    execFileSync('runc', ['--root', `${t.config.dataDir}/runc`, 'kill', containerId(sb.id), 'KILL']);
    await t.restart();
    const after = await t.api.call('getSandbox', { params: { name: 'vanish' } });
    assert.equal(after.status, 'exited');
    assert.match(after.statusReason ?? '', /processes are gone/);
    await t.api.call('startSandbox', { params: { name: 'vanish' } });
    assert.equal((await t.api.call('exec', { params: { name: 'vanish' }, body: { command: ['echo', 'back'] } })).stdout, 'back\n');
  });
});
