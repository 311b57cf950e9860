import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Bothub } from '@bothub/sdk';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { bothubNetns } from './helpers/leftovers.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

describe('TypeScript SDK: hosts and moves', () => {
  let t: TestDaemon;
  let host: TestSshHost;
  before(async () => {
    [t, host] = await Promise.all([startTestDaemon(), startSshHost()]);
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await host.cleanup();
    }
  });

  it('adds a host, moves a running sandbox there with progress, and runs commands on it through the same calls', async () => {
    const bothub = new Bothub({ url: t.url, token: t.adminKey });
    const added = await bothub.hosts.add({ name: 'far', ssh: `root@${host.address}`, privateKey: readFileSync(host.keyFile, 'utf8'), dataDir: host.dataDir });
    assert.equal(added.hostKey, host.hostKey());
    assert.equal((await bothub.hosts.check('far')).status, 'reachable');

    const box = await bothub.sandboxes.create({ name: 'sdk-mover', host: 'local' });
    await box.files.write('/work/kept', 'across hosts');
    const counter = await box.commands.start('i=0; while true; do i=$((i+1)); echo $i > /tmp/i; sleep 0.1; done');
    const steps: string[] = [];
    const moved = await box.move('far', { onProgress: (p) => steps.push(p.step) });
    assert.deepEqual([moved.from, moved.to, box.info.host], ['local', 'far', 'far']);
    assert.ok(steps.length > 0 && moved.bytes > 0);

    assert.equal(await box.files.readText('/work/kept'), 'across hosts');
    const out: string[] = [];
    const r = await box.exec('cat /work/kept; hostname', { onStdout: (s) => out.push(s), check: true });
    assert.match(r.stdout, /^across hosts/);
    assert.equal(out.join(''), r.stdout);
    assert.equal((await counter.refresh()).status, 'running', 'the background command moved with its sandbox');
    await counter.kill('KILL');
    assert.equal((await bothub.hosts.get('far')).sandboxes, 1);
    await box.destroy();
    assert.ok(!bothubNetns().includes(`bothub-${box.info.id}`), `the network namespace of ${box.info.id} is gone`);
    await bothub.hosts.remove('far');
    assert.deepEqual(
      (await bothub.hosts.list()).map((h) => h.name),
      ['local'],
    );
  });
});
