import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MoveResultT } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { fakeVast, type FakeProvider } from './helpers/fake-providers.js';

/**
 * Placing without being asked where: the scheduler puts a new sandbox on a
 * rented host only within its owner's hourly price limit, and a plain HTTP
 * request to a sandbox whose rented host was released waits a bounded time
 * for it to be placed again, then is told so (the placing goes on).
 */
describe('placing on rented hosts', () => {
  let t: TestDaemon;
  let vast: FakeProvider;
  before(async () => {
    // No rent ticks: nothing is released as idle but what the tests release.
    t = await startTestDaemon({ heartbeatMs: 300, rentTickMs: 0, placeWaitMs: 1000 });
    vast = await fakeVast();
    vast.offers.push({ id: '301', gpuModel: 'RTX 4090', gpuCount: 1, vramMb: 24564, usdPerHour: 0.35, location: 'Norway, NO', vm: true });
    const added = await cli(t.url, ['provider', 'add', 'vast', '--key-stdin', '--api-url', vast.url], `${vast.key}\n`);
    assert.equal(added.code, 0, added.stderr);
    const rented = await cli(t.url, ['host', 'rent', 'vast:301', '--name', 'gpu-p', '--idle-release', '1h', '--dir', join(vast.root, '{label}')]);
    assert.equal(rented.code, 0, rented.stderr);
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await vast.close();
    }
  });

  it("a create the scheduler places goes to a rented host only within its owner's price limit", async () => {
    const hosts = await t.api.call('listHosts');
    const localMb = Math.floor(hosts.find((h) => h.name === 'local')!.fingerprint.memoryBytes! / 1024 / 1024);
    const big = Math.floor(localMb * 0.6);
    // This machine holds most of its memory already: the rented host has the most room left, the scheduler's first choice.
    await t.api.call('createSandbox', { body: { name: 'hog', host: 'local', memoryMb: big } });
    const carol = t.as((await t.api.call('createUser', { body: { name: 'carol' } })).key);
    assert.equal((await cli(t.url, ['cost', 'limit', 'carol', '0.10'])).code, 0);

    const small = await carol.call('createSandbox', { body: { name: 'c-small' } });
    assert.equal(small.host, 'local', 'not the rented host her limit cannot pay for');
    await assert.rejects(
      carol.call('createSandbox', { body: { name: 'c-big', memoryMb: big } }),
      (e: Error & { code?: string }) =>
        e.code === 'PRICE_CHANGED' &&
        /^a sandbox on rented host "gpu-p" \(\$0\.35\/h\) would take user "carol" to \$0\.350\/h, over their limit of \$0\.1\/h; .*; no other host has room for it$/.test(e.message),
    );
    assert.equal((await t.api.call('listSandboxes')).some((s) => s.name === 'c-big'), false, 'nothing was made');
    // Nor can she move one there.
    await assert.rejects(
      carol.progress('moveSandbox', { params: { name: 'c-small' }, body: { to: 'gpu-p' } }, () => undefined),
      (e: Error & { code?: string }) => e.code === 'PRICE_CHANGED' && /^a sandbox on rented host "gpu-p"/.test(e.message),
    );
    // Without a limit the same request goes there; and once her limit allows it, hers does too.
    const placed = await t.api.call('createSandbox', { body: { name: 'big', memoryMb: big } });
    assert.equal(placed.host, 'gpu-p');
    assert.equal((await cli(t.url, ['cost', 'limit', 'carol', '1'])).code, 0);
    const hers = await carol.call('createSandbox', { body: { name: 'c-big', memoryMb: 256 } });
    assert.equal(hers.host, 'gpu-p');
    for (const name of ['hog', 'c-small', 'c-big']) await t.api.call('destroySandbox', { params: { name } });
  });

  it('a plain HTTP request to a sandbox whose host was released is answered BUSY after a bounded wait; the placing goes on', async () => {
    await t.api.call('exec', { params: { name: 'big' }, body: { command: ['sh', '-c', 'echo 42 > /root/state'] } });
    const released = await cli(t.url, ['host', 'release', 'gpu-p']);
    assert.equal(released.code, 0, released.stderr);
    assert.match((await t.api.call('getSandbox', { params: { name: 'big' } })).statusReason ?? '', /^parked/);

    // The request that finds it parked starts the placing, waits 1 s (placeWaitMs), and is told what goes on.
    const rentsBefore = (await t.api.call('listRentals')).length;
    const res = await fetch(t.api.url('exec', { name: 'big' }), {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: ['cat', '/root/state'] }),
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '30');
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, 'BUSY');
    assert.match(body.message, /^sandbox "big" is being placed on a host again, its rented host having been released \(now: .+\); that takes longer than a request waits \(1 s\)/);
    assert.match(body.message, /retry in a minute, or follow it with `POST \/api\/v1\/sandboxes\/big\/place`/);
    // A request meanwhile joins the same placing, and is told the same.
    await assert.rejects(
      t.api.call('exec', { params: { name: 'big' }, body: { command: ['cat', '/root/state'] } }),
      (e: Error & { code?: string }) => e.code === 'BUSY' && /is being placed on a host again/.test(e.message),
    );

    // A route that streams its progress shows the placing's in the same stream: a move joins the one placing, then moves it.
    const steps: string[] = [];
    const moved = await t.api.progress<MoveResultT>('moveSandbox', { params: { name: 'big' }, body: { to: 'local' } }, (p) => steps.push(p.step));
    assert.ok(steps.includes('thaw'), `the placing's progress: ${steps.join(',')}`);
    assert.equal(moved.sandbox.host, 'local');
    assert.equal(moved.sandbox.thermal, 'hot');
    assert.match(moved.from, /^rent-/, 'from the host rented to place it');
    assert.equal((await t.api.call('listRentals')).length, rentsBefore + 1, 'one placing for every request');
    const r = await t.api.call('exec', { params: { name: 'big' }, body: { command: ['cat', '/root/state'] } });
    assert.equal(r.stdout, '42\n');
    await t.api.call('destroySandbox', { params: { name: 'big' } });
  });
});
