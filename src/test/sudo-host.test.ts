import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { fakeHyperbolic, type FakeProvider } from './helpers/fake-providers.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';
import { authorizedKeysPath } from '../daemon/fleet/root-login.js';

// Cloud images let you in as `ubuntu` with passwordless sudo, not as root: bothub gives root its key through sudo, once.
describe('hosts whose login is a user with sudo, not root', () => {
  let t: TestDaemon;
  let box: TestSshHost;
  let closed: TestSshHost;
  let hyper: FakeProvider;
  before(async () => {
    t = await startTestDaemon({ heartbeatMs: 300, rentTickMs: 300 });
    [box, closed, hyper] = await Promise.all([
      startSshHost({
        users: [
          { name: 'ubuntu', sudo: true },
          { name: 'guest', sudo: false },
        ],
      }),
      startSshHost({ users: [{ name: 'ubuntu', sudo: true }], permitRootLogin: 'no' }),
      fakeHyperbolic(),
    ]);
    hyper.offers.push({ id: 'us-east-1/node-7', gpuModel: 'NVIDIA-H100-80GB-HBM3', gpuCount: 8, vramMb: 81559, usdPerHour: 1.5, location: 'US' });
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await Promise.all([box.cleanup(), closed.cleanup(), hyper.close()]);
    }
  });

  it("finds root's keys where the host's sshd says (`AuthorizedKeysFile`, tokens expanded)", () => {
    assert.equal(authorizedKeysPath('.ssh/authorized_keys .ssh/authorized_keys2', '/root'), '/root/.ssh/authorized_keys');
    assert.equal(authorizedKeysPath('/etc/ssh/keys/%u %h/.ssh/other', '/root'), '/etc/ssh/keys/root');
    assert.equal(authorizedKeysPath('none %h/k_%U_%%', '/var/root'), '/var/root/k_0_%');
    assert.equal(authorizedKeysPath(undefined, '/root'), '/root/.ssh/authorized_keys');
  });

  const add = (name: string, host: TestSshHost, user: string) => cli(t.url, ['host', 'add', name, '--ssh', `${user}@${host.address}`, '--key', host.keyFile, '--dir', host.dataDir]);
  const hostNames = async () => (await t.api.call('listHosts')).map((h) => h.name);

  it('a user without passwordless sudo, or a key the login does not take, is refused in one line that says what to do; nothing is added', async () => {
    const r = await add('guest-box', box, 'guest');
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /host "guest-box": guest is not root and cannot run sudo without a password \(.+\); give root@… as `--ssh`, or let guest run sudo without one there \(`guest ALL=\(ALL\) NOPASSWD:ALL` in \/etc\/sudoers\.d\/\)/);
    assert.equal(box.authorizedKeys('root'), '', 'root was given nothing');
    // A login that does not take the key at all: what to do, and nothing about API keys.
    const refused = await add('nobody-box', box, 'nobody');
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stderr, `bothub: host "nobody-box" refused the SSH key for nobody@${box.address}:22; add its public key to ~nobody/.ssh/authorized_keys there\n`);
    assert.deepEqual(await hostNames(), ['local']);
  });

  it("a host whose sshd refuses root logins is refused, saying which setting to change", async () => {
    const r = await add('no-root', closed, 'ubuntu');
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /host "no-root": its sshd refuses root logins \(PermitRootLogin no\), and bothub works there as root; set `PermitRootLogin prohibit-password`/);
    assert.deepEqual(await hostNames(), ['local']);
  });

  it('ubuntu with sudo: root is given the key once, the host is reached as root from then on, and a sandbox runs there', async () => {
    const r = await add('box', box, 'ubuntu');
    assert.equal(r.code, 0, r.stderr);
    const keyLines = () => box.authorizedKeys('root').split('\n').filter((l) => l.endsWith(' bothub host box'));
    assert.equal(keyLines().length, 1, box.authorizedKeys('root'));
    assert.equal((await t.api.call('getHost', { params: { name: 'box' } })).ssh, `root@${box.address}:22`);
    // A fresh connection (a check) logs in as root with the pinned host key.
    assert.equal((await cli(t.url, ['host', 'check', 'box'])).code, 0);

    assert.equal((await cli(t.url, ['create', '--name', 'on-box', '--host', 'box'])).code, 0);
    const ran = await cli(t.url, ['exec', 'on-box', '--', 'sh', '-c', 'echo "$(id -u) in $(hostname)"']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, '0 in on-box\n');
    assert.equal((await cli(t.url, ['destroy', 'on-box'])).code, 0);

    // Added again after removal: the key is there already, and is not written twice.
    assert.equal((await cli(t.url, ['host', 'rm', 'box'])).code, 0);
    assert.equal((await add('box', box, 'ubuntu')).code, 0);
    assert.equal(keyLines().length, 1, box.authorizedKeys('root'));
    assert.equal((await cli(t.url, ['host', 'rm', 'box'])).code, 0);
  });

  it('a rented Hyperbolic machine (its login is ubuntu) is set up as root, runs a sandbox, and is released', async () => {
    assert.equal((await cli(t.url, ['provider', 'add', 'hyperbolic', '--key-stdin', '--api-url', hyper.url], `${hyper.key}\n`)).code, 0);
    const r = await cli(t.url, ['host', 'rent', 'hyperbolic:us-east-1/node-7', '--no-checkpoint', '--name', 'hyp', '--dir', join(hyper.root, '{label}')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /ubuntu@[\d.]+:22: installing the agent/);
    const host = (await t.api.call('listHosts')).find((h) => h.name === 'hyp');
    assert.match(host?.ssh ?? '', /^root@/);
    assert.equal((await cli(t.url, ['create', '--name', 'on-hyp', '--host', 'hyp'])).code, 0);
    assert.equal((await cli(t.url, ['exec', 'on-hyp', '--', 'id', '-u'])).stdout, '0\n');
    assert.equal((await cli(t.url, ['destroy', 'on-hyp'])).code, 0);
    const released = await cli(t.url, ['host', 'release', 'hyp']);
    assert.equal(released.code, 0, released.stderr);
    assert.equal(hyper.destroyed.length, 1, 'the fake saw the terminate');
  });
});
