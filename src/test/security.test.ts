import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../api/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { until } from './helpers/sandbox.js';

// Between real sandboxes on a real bridge. The access matrix, keys and quotas: access.test.ts.
describe('users and networks', () => {
  let t: TestDaemon;
  let alice: ApiClient;
  let bobKey: string;
  before(async () => {
    t = await startTestDaemon();
    alice = t.as((await t.api.call('createUser', { body: { name: 'alice' } })).key);
    bobKey = (await t.api.call('createUser', { body: { name: 'bob' } })).key;
  });
  after(async () => {
    await t.cleanup();
  });

  it("peers: one user's --network peers sandboxes reach each other; nobody else's, and no default sandbox, do", async () => {
    const bob = t.as(bobKey);
    const [a1, a2, aDefault, b1] = await Promise.all([
      alice.call('createSandbox', { body: { name: 'alice-p1', network: 'peers' } }),
      alice.call('createSandbox', { body: { name: 'alice-p2', network: 'peers' } }),
      alice.call('createSandbox', { body: { name: 'alice-plain' } }),
      bob.call('createSandbox', { body: { name: 'bob-p1', network: 'peers' } }),
    ]);
    const serve = (api: ApiClient, name: string) => api.call('exec', { params: { name }, body: { command: ['sh', '-c', 'nohup python3 -m http.server 8000 >/dev/null 2>&1 &'] } });
    await Promise.all([serve(alice, 'alice-p1'), serve(alice, 'alice-p2'), serve(alice, 'alice-plain'), serve(bob, 'bob-p1')]);
    const probe = async (api: ApiClient, from: string, to: string) => {
      const script = [
        'import socket; s=socket.socket(); s.settimeout(1)',
        'try:',
        `  s.connect(('${to}', 8000)); print('open')`,
        "except socket.timeout: print('closed')",
        "except ConnectionRefusedError: print('refused')",
      ].join('\n');
      // The server may still be starting: a refusal is retried; the firewall drops, so a timeout is final.
      return until(`an answer from ${to} other than a refusal`, async () => {
        const r = await api.call('exec', { params: { name: from }, body: { command: ['python3', '-c', script] } });
        if (r.stdout === 'refused\n') throw new Error(`${from} → ${to}: connection refused`);
        return r.stdout.trim();
      }, 30_000);
    };
    assert.equal(await probe(alice, 'alice-p1', a2.address!), 'open', 'same owner, both peers');
    assert.equal(await probe(alice, 'alice-p2', a1.address!), 'open', 'both ways');
    assert.equal(await probe(alice, 'alice-p1', aDefault.address!), 'closed', 'a default sandbox is not a peer');
    assert.equal(await probe(alice, 'alice-plain', a1.address!), 'closed', 'nor can it reach one');
    assert.equal(await probe(alice, 'alice-p1', b1.address!), 'closed', "another user's peers sandbox");
    assert.equal(await probe(bob, 'bob-p1', a1.address!), 'closed', 'from the other side too');
    // Destroying a peer takes its address out of the group at once.
    await alice.call('destroySandbox', { params: { name: 'alice-p2' } });
    const rules = execFileSync('iptables', ['-S', `BH-PEER-${t.config.bridge}`], { encoding: 'utf8' });
    assert.ok(!rules.includes(a2.address!), rules);
    await Promise.all(['alice-p1', 'alice-plain'].map((name) => alice.call('destroySandbox', { params: { name } })));
    await bob.call('destroySandbox', { params: { name: 'bob-p1' } });
  });

});
