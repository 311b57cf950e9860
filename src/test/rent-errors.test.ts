import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cli, type CliResult } from './helpers/cli.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';
import { fakeHyperbolic, fakeRunpod, fakeVast, type FakeProvider } from './helpers/fake-providers.js';

/**
 * What each provider answers when a rent cannot be made (a bad key, no
 * machine left, the offer taken, a new price, a rate limit), each in that
 * provider's own error shape, becomes one line with a stable code and exit
 * status, and nothing is left billing. No sandbox is made: the daemon runs
 * on the fake runtime (no root, no bridge).
 */
describe('provider errors', () => {
  let t: InjectDaemon;
  let fakes: { name: 'vast' | 'runpod' | 'hyperbolic'; fake: FakeProvider; offer: string }[];
  before(async () => {
    // No rent ticks: reconciling in the background would meet the rate limits these tests set.
    t = await startInjectDaemon({ heartbeatMs: 1000, rentTickMs: 0 });
    const [vast, runpod, hyper] = await Promise.all([fakeVast(), fakeRunpod(), fakeHyperbolic()]);
    vast.offers.push({ id: '201', gpuModel: 'RTX 4090', gpuCount: 1, vramMb: 24564, usdPerHour: 0.4, location: 'Norway, NO', vm: true });
    runpod.offers.push({ id: 'NVIDIA GeForce RTX 4090', gpuModel: 'RTX 4090', gpuCount: 1, vramMb: 24576, usdPerHour: 0.69, location: 'any' });
    hyper.offers.push({ id: 'us-east-1/node-7', gpuModel: 'NVIDIA-H100-80GB-HBM3', gpuCount: 8, vramMb: 81559, usdPerHour: 1.5, location: 'US' });
    fakes = [
      { name: 'vast', fake: vast, offer: 'vast:201' },
      { name: 'runpod', fake: runpod, offer: 'runpod:1xNVIDIA GeForce RTX 4090' },
      { name: 'hyperbolic', fake: hyper, offer: 'hyperbolic:us-east-1/node-7' },
    ];
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await Promise.all(fakes.map((f) => f.fake.close()));
    }
  });

  /** One line on stderr, with the exit status of its code. */
  const oneLine = (r: CliResult, exit: number, pattern: RegExp) => {
    assert.equal(r.code, exit, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => !/^rent: /.test(l)); // progress lines before the error
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, pattern);
  };
  const rent = (offer: string, ...more: string[]) => cli(t.url, ['host', 'rent', offer, '--no-checkpoint', '--ready-timeout', '60s', ...more]);
  /** Nothing bills after a refused rent: no instance at the fake, every rental ended. */
  const nothingBilling = async (f: FakeProvider) => {
    assert.equal([...f.instances.values()].filter((i) => i.status !== 'destroyed').length, 0);
    assert.ok((await t.api.call('listRentals')).every((r) => r.status === 'failed'));
  };

  it('a wrong key (PROVIDER_KEY_REJECTED, exit 77), then the right one is stored', async () => {
    for (const { name, fake } of fakes) {
      const wrong = await cli(t.url, ['provider', 'add', name, '--key-stdin', '--api-url', fake.url], 'not-the-key\n');
      oneLine(wrong, 77, new RegExp(`^bothub: ${name}: listing (instances|pods) failed: the API key was refused \\(HTTP 401: .+\\); check the key in ${name}'s console`));
      const right = await cli(t.url, ['provider', 'add', name, '--key-stdin', '--api-url', fake.url], `${fake.key}\n`);
      assert.equal(right.code, 0, right.stderr);
    }
  });

  it('rate limited (PROVIDER_RATE_LIMITED, exit 75): listing offers and renting', async () => {
    for (const { name, fake, offer } of fakes) {
      fake.rateLimited = true;
      try {
        const offers = await cli(t.url, ['offers', '--provider', name]);
        assert.equal(offers.code, 0, 'the table of the providers that answered, and one line for each that did not');
        assert.match(offers.stderr, new RegExp(`^${name}: .* failed: rate limited \\(HTTP 429: .+\\); wait a minute and try again$`, 'm'));
        oneLine(await rent(offer), 75, new RegExp(`^bothub: ${name}: .* failed: rate limited \\(HTTP 429: .+\\); wait a minute and try again$`));
      } finally {
        fake.rateLimited = false;
      }
      await nothingBilling(fake);
    }
  });

  it('no capacity (NO_CAPACITY, exit 6): the rent is ended, nothing bills', async () => {
    for (const { name, fake, offer } of fakes) {
      fake.refuseRent = 'capacity';
      try {
        oneLine(await rent(offer), 6, new RegExp(`^bothub: ${name}: .+ failed: .*(insufficient GPUs|no longer any instances available|Not enough GPUs).*; pick another offer from \`bothub offers\`$`));
      } finally {
        fake.refuseRent = undefined;
      }
      await nothingBilling(fake);
    }
  });

  it('the offer taken meanwhile (OFFER_GONE, exit 3), or no longer listed', async () => {
    for (const { name, fake, offer } of fakes.filter((f) => f.name !== 'runpod')) {
      fake.refuseRent = 'gone';
      try {
        oneLine(await rent(offer), 3, new RegExp(`^bothub: ${name}: .+ failed: HTTP 404: .+; it was taken meanwhile; pick another from \`bothub offers\`$`));
      } finally {
        fake.refuseRent = undefined;
      }
      await nothingBilling(fake);
    }
    for (const { name } of fakes) oneLine(await rent(`${name}:nothing/999`), 3, new RegExp(`^bothub: ${name}: offer nothing/999 is no longer listed; pick another from \`bothub offers\`$`));
  });

  it('a price over --max-price now (PRICE_CHANGED, exit 5), before the provider is asked to rent', async () => {
    for (const { name, fake, offer } of fakes) {
      const instances = fake.instances.size;
      oneLine(await rent(offer, '--max-price', '0.10'), 5, new RegExp(`^bothub: ${name}: offer .+ costs \\$[\\d.]+/h now, over maxPrice 0.1; see \`bothub offers\`$`));
      assert.equal(fake.instances.size, instances, 'nothing was rented');
      await nothingBilling(fake);
    }
  });
});
