import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RentalT, SandboxT } from '../api/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { fakeHyperbolic, fakeRunpod, fakeVast, type FakeProvider } from './helpers/fake-providers.js';
import { until } from './helpers/sandbox.js';

describe('rented GPU hosts', () => {
  let t: TestDaemon;
  let vast: FakeProvider;
  let runpod: FakeProvider;
  let hyper: FakeProvider;
  before(async () => {
    t = await startTestDaemon({ heartbeatMs: 300, rentTickMs: 300 });
    [vast, runpod, hyper] = await Promise.all([fakeVast(), fakeRunpod(), fakeHyperbolic()]);
    vast.offers.push(
      { id: '101', gpuModel: 'RTX 4090', gpuCount: 1, vramMb: 24564, usdPerHour: 0.35, location: 'Norway, NO', vm: true },
      { id: '102', gpuModel: 'RTX 4090', gpuCount: 1, vramMb: 24564, usdPerHour: 0.21, location: 'Texas, US' },
    );
    runpod.offers.push({ id: 'NVIDIA GeForce RTX 4090', gpuModel: 'RTX 4090', gpuCount: 1, vramMb: 24576, usdPerHour: 0.69, location: 'any' });
    hyper.offers.push({ id: 'us-east-1/node-7', gpuModel: 'NVIDIA-H100-80GB-HBM3', gpuCount: 8, vramMb: 81559, usdPerHour: 1.5, location: 'US' });
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await Promise.all([vast.close(), runpod.close(), hyper.close()]);
    }
  });

  const rentals = () => t.api.call('listRentals');

  it('stores provider keys sealed, after trying them; a wrong key gets one clear line', async () => {
    const wrong = await cli(t.url, ['provider', 'add', 'vast', '--key-stdin', '--api-url', vast.url], 'not-the-key\n');
    assert.equal(wrong.code, 77, wrong.stderr);
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
    assert.match(wrong.stderr, /vast: listing instances failed: the API key was refused \(HTTP 401: Invalid user key\); check the key/);
    for (const p of [vast, runpod, hyper]) {
      const name = p === vast ? 'vast' : p === runpod ? 'runpod' : 'hyperbolic';
      const r = await cli(t.url, ['provider', 'add', name, '--key-stdin', '--api-url', p.url], `${p.key}\n`);
      assert.equal(r.code, 0, r.stderr);
    }
    const list = await cli(t.url, ['provider', 'list']);
    assert.match(list.stdout, /^hyperbolic\s+http:\/\/127\.0\.0\.1:\d+/m);
    assert.match(list.stdout, /^vast\s+/m);
    const raw = await t.daemon.db.selectFrom('providers').select('key_sealed').execute();
    for (const r of raw) assert.equal(r.key_sealed.includes(Buffer.from('test-key')), false, 'keys are sealed');
    assert.ok(vast.calls.includes('GET /api/v0/instances/'), 'the key was tried with a listing');
  });

  it('lists offers across providers in one table, with whether each can checkpoint', async () => {
    const r = await cli(t.url, ['offers', '--gpu', '4090']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^OFFER\s+GPU\s+VRAM\s+\$\/H\s+LOCATION\s+CHECKPOINT$/);
    assert.match(lines[1]!, /^vast:102\s+1× RTX 4090\s+24GB\s+\$0\.210\s+Texas, US\s+no$/);
    assert.match(lines[2]!, /^vast:101\s+1× RTX 4090\s+24GB\s+\$0\.350\s+Norway, NO\s+yes$/);
    assert.match(lines[3]!, /^runpod:1xNVIDIA GeForce RTX 4090\s+1× RTX 4090\s+24GB\s+\$0\.690\s+any\s+no$/);
    assert.equal(lines.length, 4, 'the H100 does not match');
    const cheap = await t.api.call('listOffers', { query: { maxPrice: 0.3 } });
    assert.deepEqual(cheap.offers.map((o) => o.ref), ['vast:102']);
    const h100 = await t.api.call('listOffers', { query: { provider: 'hyperbolic', gpu: 'h100', count: 2 } });
    assert.deepEqual(h100.offers.map((o) => [o.ref, o.gpuCount, o.usdPerHour]), [['hyperbolic:us-east-1/node-7', 2, 3]]);
  });

  it('refuses to rent an offer that cannot checkpoint unless told so, before asking the provider', async () => {
    const r = await cli(t.url, ['host', 'rent', 'runpod:1xNVIDIA GeForce RTX 4090']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /runpod:1xNVIDIA GeForce RTX 4090 cannot checkpoint \(runpod rents unprivileged containers.*set `--no-checkpoint`/);
    assert.equal(runpod.instances.size, 0, 'nothing was rented');
    const byGpu = await cli(t.url, ['host', 'rent', '--provider', 'vast', '--gpu', '4090', '--max-price', '0.3']);
    assert.equal(byGpu.code, 6, byGpu.stderr);
    assert.match(byGpu.stderr, /1 offer\(s\) fit but none can checkpoint/);
    const gone = await cli(t.url, ['host', 'rent', 'vast:999']);
    assert.equal(gone.code, 3, gone.stderr);
    assert.match(gone.stderr, /offer 999 is no longer listed/);
  });

  it('destroys a rented instance that never answers SSH', async () => {
    vast.unreachable = true;
    try {
      const r = await cli(t.url, ['host', 'rent', 'vast:101', '--name', 'never', '--ready-timeout', '3s']);
      assert.equal(r.code, 124, r.stderr);
      assert.match(r.stderr, /did not answer SSH within 3 s .*it was destroyed/);
      const rental = (await rentals()).find((x) => x.host === 'never')!;
      assert.equal(rental.status, 'failed');
      assert.ok(rental.instanceId && vast.destroyed.includes(rental.instanceId), 'the fake saw the DELETE');
      assert.ok(vast.calls.includes(`DELETE /api/v0/instances/${rental.instanceId}/`));
      assert.equal((await t.api.call('listHosts')).some((h) => h.name === 'never'), false);
    } finally {
      vast.unreachable = false;
    }
  });

  it("finds an instance of bothub's that no rental owns and destroys it, leaving others' alone", async () => {
    hyper.addInstance({ id: 'orphan-1', label: 'bothub-0123456789', offerId: 'us-east-1/node-7', usdPerHour: 1.5 });
    hyper.addInstance({ id: 'theirs', label: null, offerId: 'us-east-1/node-7', usdPerHour: 1.5 });
    // The daemon also reconciles by itself every few ticks; whichever comes first destroys it, once.
    const report = await t.api.call('reconcileProviders');
    const raced = report.destroyed.length === 0 && hyper.destroyed.includes('orphan-1');
    if (!raced) assert.deepEqual(report.destroyed, [{ provider: 'hyperbolic', instanceId: 'orphan-1', label: 'bothub-0123456789' }]);
    assert.deepEqual(hyper.destroyed, ['orphan-1']);
    assert.ok(hyper.calls.includes('POST /v1/marketplace/instances/terminate'));
    assert.equal(hyper.instances.get('theirs')!.status, 'running', 'an instance without our label is not ours');
    const again = await cli(t.url, ['provider', 'reconcile']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'nothing to reconcile\n');
  });

  it('a host rented with --no-checkpoint: its sandboxes cannot freeze, move or go home, so it is never released under them', async () => {
    const r = await cli(t.url, ['host', 'rent', 'runpod:1xNVIDIA GeForce RTX 4090', '--no-checkpoint', '--name', 'pod-a', '--idle-release', '1s', '--dir', join(runpod.root, '{label}')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^pod-a: 1× RTX 4090 from runpod \(instance pod\d+\) at \$0\.69\/h, cannot checkpoint/m);
    const rental = (await rentals()).find((x) => x.host === 'pod-a')!;
    await t.api.call('createSandbox', { body: { name: 'pinned', host: 'pod-a' } });
    const idleSince = Date.now();
    for (const args of [['freeze', 'pinned'], ['move', 'pinned', '--to', 'local'], ['host', 'release', 'pod-a']]) {
      const refused = await cli(t.url, args);
      assert.equal(refused.code, 5, `${args.join(' ')}: ${refused.stderr}`);
      assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
      assert.match(refused.stderr, /rented with `--no-checkpoint`/);
    }
    // Idle past its setting for several rent ticks (each meters it): still rented, the sandbox still there.
    const meteredAt = async () => Date.parse((await t.daemon.db.selectFrom('rentals').select('metered_at').where('id', '=', rental.id).executeTakeFirstOrThrow()).metered_at);
    await until('rent ticks past the idle time', async () => ((await meteredAt()) > idleSince + 3000 ? true : undefined), 60_000);
    assert.equal((await rentals()).find((x) => x.host === 'pod-a')!.status, 'active');
    assert.equal((await t.api.call('getSandbox', { params: { name: 'pinned' } })).host, 'pod-a');
    // Without sandboxes it goes.
    await t.api.call('destroySandbox', { params: { name: 'pinned' } });
    const released = await cli(t.url, ['host', 'release', 'pod-a']);
    assert.equal(released.code, 0, released.stderr);
    assert.ok(runpod.destroyed.includes(rental.instanceId!), 'the fake saw podTerminate');
  });

  it('rents, holds state, releases when idle with the state brought home, and thaws it on a new rent at the next request', async () => {
    const events: string[] = [];
    const rented = await t.api.progress<RentalT>(
      'rentHost',
      { body: { offer: 'vast:101', name: 'gpu-a', idleReleaseSec: 4, readyTimeoutSec: 60, dataDir: join(vast.root, '{label}') } },
      (p) => events.push(p.step),
    );
    assert.equal(rented.status, 'active');
    assert.equal(rented.usdPerHour, 0.35);
    assert.ok(events.includes('rent') && events.includes('ssh') && events.includes('agent'), events.join(','));
    const instance = vast.instances.get(rented.instanceId!)!;
    assert.equal(instance.label, `bothub-${rented.id}`, 'the instance carries our label');
    assert.equal((await t.api.call('getHost', { params: { name: 'gpu-a' } })).status, 'reachable');

    await t.api.call('createSandbox', { body: { name: 'keeper', host: 'gpu-a' } });
    const script = "import os,time; v='held in memory'; open('/tmp/pid','w').write(str(os.getpid())); time.sleep(10**6)";
    await t.api.call('exec', { params: { name: 'keeper' }, body: { command: ['sh', '-c', `echo 42 > /root/state; nohup python3 -c "${script}" </dev/null >/dev/null 2>&1 & sleep 0.5`] } });

    // Idle past the host's setting: its sandbox goes home, then the instance goes.
    // Checkpoint, copy home and destroy: a minute or more on a busy two-core machine.
    await until('gpu-a released', async () => ((await rentals()).find((r) => r.host === 'gpu-a')?.status === 'released' ? true : undefined), 300_000);
    assert.ok(vast.destroyed.includes(rented.instanceId!), 'the fake saw the destroy');
    const parked = await t.api.call('getSandbox', { params: { name: 'keeper' } });
    assert.equal(parked.thermal, 'cold');
    assert.match(parked.statusReason ?? '', /parked: host "gpu-a" was released/);
    assert.equal((await t.api.call('listHosts')).some((h) => h.name === 'gpu-a'), false);

    // The owner's price limit holds for the rent that places it too: over it, one line, and the state stays parked.
    assert.equal((await cli(t.url, ['cost', 'limit', 'admin', '0.30'])).code, 0);
    const refused = await cli(t.url, ['exec', 'keeper', '--', 'true']);
    assert.equal(refused.code, 5, refused.stderr);
    assert.match(refused.stderr.trim().split('\n').at(-1)!, /renting at \$0\.35\/h would take user "admin" to \$0\.350\/h, over their limit of \$0\.3\/h; release a host \(`bothub host release HOST`\) or raise the limit \(`bothub cost limit admin USD`\)$/);
    assert.match((await t.api.call('getSandbox', { params: { name: 'keeper' } })).statusReason ?? '', /^parked/);
    assert.equal((await cli(t.url, ['cost', 'limit', 'admin', 'none'])).code, 0);

    // The next requests place it: no idle host fits, so a new machine is rented, and it thaws there. The CLI's exec
    // shows the progress on stderr, a caller of the place route joins it and gets it as NDJSON: one placing for both.
    const rentsBefore = (await rentals()).length;
    const placingFrom = Date.now();
    const check = ['sh', '-c', 'cat /root/state; tr "\\0" " " < /proc/$(cat /tmp/pid)/cmdline'];
    const viaCli = cli(t.url, ['exec', 'keeper', '--', ...check]);
    await until('the exec started a rent', async () => ((await rentals()).length > rentsBefore ? true : undefined), 60_000);
    const steps: string[] = [];
    const viaPlace = t.api.progress<SandboxT>('placeSandbox', { params: { name: 'keeper' } }, (p) => steps.push(p.step));
    const [c, placed] = await Promise.all([viaCli, viaPlace]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^42\npython3 -c import os,time; v='held in memory'/);
    for (const step of ['rent', 'ssh', 'agent', 'transfer', 'thaw']) assert.match(c.stderr, new RegExp(`^keeper: ${step} `, 'm'), c.stderr);
    assert.ok(steps.includes('thaw'), steps.join(','));
    const r = await t.api.call('exec', { params: { name: 'keeper' }, body: { command: check } });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^42\npython3 -c import os,time; v='held in memory'/);
    assert.notEqual(placed.host, 'gpu-a');
    assert.equal(placed.thermal, 'hot');
    assert.equal((await rentals()).length, rentsBefore + 1, 'one rent for both requests');
    const second = (await rentals()).find((x) => x.host === placed.host)!;
    assert.equal(second.provider, 'vast');
    assert.notEqual(second.instanceId, rented.instanceId);
    assert.equal(second.idleReleaseSec, 4, "the new host keeps the old one's idle setting");
    // Arriving was activity: the new host's idle clock did not start from the sandbox's last use on the old one.
    const arrived = await t.daemon.db.selectFrom('sandboxes').select('last_active_at').where('name', '=', 'keeper').executeTakeFirstOrThrow();
    assert.ok(Date.parse(arrived.last_active_at!) >= placingFrom, `last active ${arrived.last_active_at}`);
    // A user who does not pay for that host yet cannot put a sandbox there past their own limit.
    const carol = t.as((await t.api.call('createUser', { body: { name: 'carol' } })).key);
    assert.equal((await cli(t.url, ['cost', 'limit', 'carol', '0.10'])).code, 0);
    await assert.rejects(
      carol.call('createSandbox', { body: { name: 'carols', host: placed.host } }),
      (e: Error & { code?: string }) =>
        e.code === 'PRICE_CHANGED' && /^a sandbox on rented host "rent-\w+" \(\$0\.35\/h\) would take user "carol" to \$0\.350\/h, over their limit of \$0\.1\/h/.test(e.message),
    );
    const types = (await t.api.call('listEvents', { query: { sandbox: 'keeper' } })).map((e) => e.type);
    assert.ok(types.includes('parked') && types.includes('placed'), types.join(','));

    // Money: the first host billed while it lived, to the sandbox on it and its owner.
    const cost = await t.api.call('getCost', { query: {} });
    const a = cost.hosts.find((h) => h.host === 'gpu-a')!;
    assert.ok(a.spentUsd > 0 && !a.active, JSON.stringify(a));
    assert.ok(cost.sandboxes.some((s) => s.sandbox === 'keeper' && s.owner === 'admin' && s.spentUsd > 0), JSON.stringify(cost.sandboxes));
    assert.ok(cost.users.some((u) => u.user === 'admin' && u.spentUsd > 0 && u.usdPerHourNow === 0.35), JSON.stringify(cost.users));
    const table = await cli(t.url, ['cost']);
    assert.match(table.stdout, /^gpu-a\s+vast\s+\$0\.350\s+\$0\.\d+\s+no$/m);
    assert.match(table.stdout, /^keeper\s+admin\s+\$0\.\d+$/m);
    const later = await cli(t.url, ['cost', '--since', new Date(Date.now() + 2 * 3_600_000).toISOString()]);
    assert.match(later.stdout, /^total \$0\.000 since /m);

    // Idle again (reading its record is no activity), it goes home again by itself: the second host's meter stops too.
    await until('keeper parked again', async () => (/^parked/.test((await t.api.call('getSandbox', { params: { name: 'keeper' } })).statusReason ?? '') ? true : undefined), 300_000);
    await until('every rental ended', async () => ((await rentals()).every((x) => x.status !== 'active' && x.status !== 'releasing') ? true : undefined), 60_000);
    assert.equal((await rentals()).find((x) => x.host === placed.host)!.failure, 'idle');
    assert.ok(vast.destroyed.includes(second.instanceId!), 'the fake saw the second destroy');
    // A parked sandbox is destroyed like any other.
    await t.api.call('destroySandbox', { params: { name: 'keeper' } });
    assert.equal((await t.api.call('listSandboxes')).length, 0);
  });
});
