import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient } from '../api/index.js';
import { LocalHost } from '../hostexec/index.js';
import { isAlive } from '../runtime/index.js';
import { BOTHUB_BIN } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { ourDescendants } from './helpers/processes.js';
import { until } from './helpers/sandbox.js';

describe('the daemon killed with SIGKILL in the middle of a snapshot', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('leaves nothing that looks complete, no stray processes, and the next start thaws the sandbox', async () => {
    // Run the same daemon as a separate process on the same data dir and port, so it can be killed for real.
    await t.daemon.close();
    const c = t.config;
    const child = spawn(process.execPath, [BOTHUB_BIN, 'serve', '--listen', new URL(t.url).host, '--data-dir', c.dataDir], {
      env: { ...process.env, BOTHUB_IMAGES_DIR: c.imagesDir, BOTHUB_BRIDGE: c.bridge, BOTHUB_SUBNET: c.subnet, BOTHUB_LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    const api = new ApiClient(t.url, { token: t.adminKey });
    // A daemon's start (migrations, reconcile, the bridge) can take tens of seconds on a loaded machine.
    await until('the daemon process', () => api.call('health'), 90_000);
    await api.call('createSandbox', { body: { name: 'crashy', memoryMb: 1024 } });
    const held = await api.call('exec', {
      params: { name: 'crashy' },
      body: {
        command: [
          'sh',
          '-c',
          "nohup python3 -c \"import os, time; d = os.urandom(400 * 1024 * 1024); open('/tmp/ready','w').close(); time.sleep(10**6)\" >/dev/null 2>&1 & while ! test -e /tmp/ready; do sleep 0.1; done",
        ],
      },
    });
    assert.equal(held.exitCode, 0);
    const pending = api.progress('createSnapshot', { params: { name: 'crashy' }, body: { name: 'half' } }, () => undefined).catch((e: Error) => e);
    await until('CRIU to start dumping', async () => (ourDescendants(/sbin\/criu swrk/).length ? true : undefined));
    // This daemon's runc and CRIU (not other files' running beside this one).
    const dumping = ourDescendants(/criu swrk|runc .*checkpoint/);
    child.kill('SIGKILL');
    await pending;
    await until('runc and CRIU to die with the daemon', async () => ((await Promise.all(dumping.map((pid) => isAlive(new LocalHost(), pid)))).includes(true) ? undefined : true));

    await t.restart();
    const sb = await t.api.call('getSandbox', { params: { name: 'crashy' } });
    assert.equal(sb.status, 'running');
    assert.equal((await t.api.call('exec', { params: { name: 'crashy' }, body: { command: ['test', '-e', '/tmp/ready'] } })).exitCode, 0, 'its processes and files are intact');
    assert.deepEqual(await t.api.call('listSnapshots', { query: {} }), []);
    // The chunk store stays (its unreferenced chunks are swept at start).
    assert.deepEqual(readdirSync(join(c.dataDir, 'snapshots')).filter((f) => f !== '.chunks'), [], 'the partial snapshot is gone');
  });
});
