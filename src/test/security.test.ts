import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ApiClient } from '../api/index.js';
import { routes, routeUrl, type RouteName } from '../api/index.js';
import { parseApiKey, type BothubError } from '../core/index.js';
import { cli } from './helpers/cli.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { put, restore, sh, snapshot, until } from './helpers/sandbox.js';

interface Call {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /** Statuses expected for another user and for the owner, where they differ from the rule. */
  other?: number[];
  owner?: number[];
  admin?: number[];
}

/**
 * How to call each route against resources owned by alice. The matrix below
 * walks the route table: a route added without an entry here fails the test.
 * `fresh` makes a throwaway resource for calls that consume one.
 */
function fixtures(t: TestDaemon, alice: ApiClient): Record<RouteName, (fresh: string) => Promise<Call>> {
  const sandbox = async (name: string) => {
    await alice.call('createSandbox', { body: { name } }).catch(() => undefined);
    return name;
  };
  const background = async (command: string[]) => (await alice.call('startExec', { params: { name: 'alice-box' }, body: { command } })).id;
  return {
    health: async () => ({}),
    whoami: async () => ({}),
    createSession: async () => ({ body: { token: t.adminKey } }),
    // Bearer callers have no dashboard session to show.
    getSession: async () => ({ other: [401], owner: [401], admin: [401] }),
    deleteSession: async () => ({}),
    listUsers: async () => ({}),
    createUser: async (fresh) => ({ body: { name: fresh } }),
    rotateUserKey: async () => ({ params: { name: 'carol' } }),
    removeUser: async (fresh) => {
      await t.api.call('createUser', { body: { name: fresh } }).catch(() => undefined);
      return { params: { name: fresh } };
    },
    listSecrets: async () => ({}),
    // Secret names are per user: bob setting ALICE_TOKEN sets his own.
    setSecret: async () => ({ params: { name: 'ALICE_TOKEN' }, body: { value: 'v' }, other: [200] }),
    removeSecret: async (fresh) => {
      const name = `S_${fresh.replace(/-/g, '_')}`;
      await alice.call('setSecret', { params: { name }, body: { value: 'x' } });
      return { params: { name } };
    },
    listSandboxes: async () => ({}),
    createSandbox: async (fresh) => ({ body: { name: fresh } }),
    getSandbox: async () => ({ params: { name: 'alice-box' } }),
    stopSandbox: async (fresh) => ({ params: { name: await sandbox(fresh) } }),
    startSandbox: async (fresh) => {
      await sandbox(fresh);
      await alice.call('stopSandbox', { params: { name: fresh } });
      return { params: { name: fresh } };
    },
    destroySandbox: async (fresh) => ({ params: { name: await sandbox(fresh) } }),
    pauseSandbox: async (fresh) => ({ params: { name: await sandbox(fresh) } }),
    resumeSandbox: async () => ({ params: { name: 'alice-box' } }),
    freezeSandbox: async (fresh) => ({ params: { name: await sandbox(fresh) } }),
    listEvents: async () => ({}),
    // A plain GET of a WebSocket route: 426 once the key is checked.
    eventsStream: async () => ({ other: [426] }),
    sandboxStats: async () => ({ params: { name: 'alice-box' } }),
    sandboxStatsStream: async () => ({ params: { name: 'alice-box' } }),
    publish: async () => ({ params: { name: 'alice-box' }, body: { port: 8000 } }),
    unpublish: async () => {
      await alice.call('publish', { params: { name: 'alice-box' }, body: { port: 8001 } });
      return { params: { name: 'alice-box', port: '8001' } };
    },
    createShare: async () => {
      await alice.call('publish', { params: { name: 'alice-box' }, body: { port: 8000 } });
      return { params: { name: 'alice-box' }, body: { port: 8000 } };
    },
    listShares: async () => ({ params: { name: 'alice-box' } }),
    revokeShare: async () => {
      await alice.call('publish', { params: { name: 'alice-box' }, body: { port: 8000 } });
      const link = await alice.call('createShare', { params: { name: 'alice-box' }, body: { port: 8000 } });
      return { params: { id: link.share.id } };
    },
    exec: async () => ({ params: { name: 'alice-box' }, body: { command: ['true'] } }),
    execStream: async () => ({ params: { name: 'alice-box' } }),
    logs: async () => ({ params: { name: 'alice-box' } }),
    startExec: async () => ({ params: { name: 'alice-box' }, body: { command: ['true'] } }),
    listExecs: async () => ({ params: { name: 'alice-box' } }),
    getExec: async () => ({ params: { name: 'alice-box', id: await background(['true']) } }),
    killExec: async () => ({ params: { name: 'alice-box', id: await background(['sleep', '600']) }, body: { signal: 'KILL' } }),
    execLogs: async () => ({ params: { name: 'alice-box', id: await background(['echo', 'hi']) } }),
    // Not an interactive command: the owner is told so (409) after the key check.
    attachExec: async () => ({ params: { name: 'alice-box', id: await background(['true']) }, owner: [409], admin: [409] }),
    statFile: async () => ({ params: { name: 'alice-box' }, query: { path: '/etc/hostname' } }),
    listFiles: async () => ({ params: { name: 'alice-box' }, query: { path: '/etc' } }),
    readFile: async () => ({ params: { name: 'alice-box' }, query: { path: '/etc/hostname' } }),
    writeFile: async (fresh) => ({ params: { name: 'alice-box' }, query: { path: `/tmp/${fresh}` }, body: 'content' }),
    getArchive: async () => ({ params: { name: 'alice-box' }, query: { path: '/etc/hostname' } }),
    // Not a tar: the owner gets a clear refusal.
    putArchive: async (fresh) => ({ params: { name: 'alice-box' }, query: { path: `/tmp/${fresh}` }, body: 'not a tar', owner: [400] }),
    createSnapshot: async (fresh) => ({ params: { name: 'alice-box' }, body: { name: fresh, leaveRunning: true } }),
    listSnapshots: async () => ({}),
    getSnapshot: async () => ({ params: { name: 'alice-snap' } }),
    deleteSnapshot: async (fresh) => {
      await snapshot(t, 'alice-box', fresh, true);
      return { params: { name: fresh } };
    },
    restoreSnapshot: async (fresh) => ({ params: { name: 'alice-snap' }, body: { name: fresh } }),
    doctor: async () => ({}),
    doctorConsistency: async () => ({}),
    listHosts: async () => ({}),
    // Not a key: refused before any connection.
    addHost: async (fresh) => ({ body: { name: fresh, ssh: 'root@127.0.0.1:1', privateKey: 'not a key' } }),
    // Hosts are the fleet's, not a user's: every user may look.
    getHost: async () => ({ params: { name: 'local' }, other: [200] }),
    checkHost: async () => ({ params: { name: 'local' } }),
    removeHost: async () => ({ params: { name: 'no-such-host' } }),
    snapshotHosts: async () => ({ params: { name: 'alice-snap' } }),
    // No such host: the owner learns that; someone else learns nothing of the sandbox.
    moveSandbox: async () => ({ params: { name: 'alice-box' }, body: { to: 'no-such-host' }, owner: [404], admin: [404] }),
    importSandbox: async (fresh) => ({
      body: {
        name: fresh,
        image: 'debian',
        cpus: null,
        memoryMb: null,
        pidsLimit: 64,
        network: 'default',
        command: [],
        env: {},
        idleWarmMs: null,
        idleColdMs: null,
        keepHot: false,
        dir: 'nothing-here',
        execs: [],
      },
    }),
    listImages: async () => ({}),
    // The default image is shared by everyone.
    getImage: async () => ({ params: { name: 'debian' }, other: [200] }),
    buildImage: async () => ({ params: { name: 'debian' }, other: [200] }),
    importImage: async (fresh) => ({ query: { name: fresh }, body: 'not a tar' }),
    removeImage: async () => ({ params: { name: 'no-such-image' }, other: [404], owner: [404] }),
    // A malformed reference is refused before anything leaves the host.
    pullImage: async () => ({ body: { reference: 'Not A Ref' }, other: [400], owner: [400], admin: [400] }),
    saveImage: async (fresh) => ({ params: { name: 'alice-box' }, body: { name: fresh } }),
    pushImage: async () => ({ params: { name: 'no-such-image' }, body: { reference: '127.0.0.1:1/x/y' }, other: [404], owner: [404], admin: [404] }),
    exportImage: async () => ({ params: { name: 'no-such-image' }, other: [404], owner: [404], admin: [404] }),
    listRegistries: async () => ({}),
    // Logins are each user's own: anyone may store theirs.
    registryLogin: async () => ({ params: { host: 'registry.example' }, body: { username: 'u', password: 'p' }, other: [200] }),
    registryLogout: async () => ({ params: { host: 'nothing.example' }, other: [404], owner: [404], admin: [404] }),
    listProviders: async () => ({}),
    // The key is tried before it is stored: nothing answers there.
    addProvider: async () => ({ params: { provider: 'vast' }, body: { key: 'k', baseUrl: 'http://127.0.0.1:1' }, admin: [503] }),
    removeProvider: async () => ({ params: { provider: 'vast' } }),
    reconcileProviders: async () => ({}),
    listOffers: async () => ({ query: { gpu: 'H100' } }),
    rentHost: async () => ({ body: { gpu: 'H100' } }),
    listRentals: async () => ({}),
    releaseHost: async () => ({ params: { name: 'no-such-host' } }),
    getCost: async () => ({}),
    setPriceLimit: async () => ({ params: { name: 'no-such-user' }, body: { maxUsdPerHour: 1 } }),
  };
}

async function send(t: TestDaemon, route: RouteName, call: Call, token?: string): Promise<number> {
  const def = routes[route];
  const url = new URL(routeUrl(def.url, call.params), t.url);
  for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
  const raw = typeof call.body === 'string';
  const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}) };
  if (call.body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
  const body = call.body === undefined || def.method === 'GET' ? undefined : raw ? (call.body as string) : JSON.stringify(call.body);
  if (body === undefined) delete headers['content-type'];
  const res = await fetch(url, { method: def.method, headers, body });
  await res.arrayBuffer();
  return res.status;
}

describe('users, keys and access', () => {
  let t: TestDaemon;
  let alice: ApiClient;
  let aliceKey: string;
  let bobKey: string;
  before(async () => {
    // The matrix sends many bad keys on purpose; the 429 test below has a daemon of its own.
    t = await startTestDaemon({ authMaxFailures: 1_000_000 });
    aliceKey = (await t.api.call('createUser', { body: { name: 'alice' } })).key;
    bobKey = (await t.api.call('createUser', { body: { name: 'bob' } })).key;
    await t.api.call('createUser', { body: { name: 'carol' } });
    alice = t.as(aliceKey);
    await alice.call('createSandbox', { body: { name: 'alice-box' } });
    await snapshot({ ...t, api: alice }, 'alice-box', 'alice-snap', true);
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
      for (let i = 0; ; i++) {
        const r = await api.call('exec', { params: { name: from }, body: { command: ['python3', '-c', script] } });
        if (r.stdout !== 'refused\n' || i === 20) return r.stdout.trim();
        await new Promise((res) => setTimeout(res, 100));
      }
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

  it('keeps only a hash of the admin key and writes the key once, 0600', () => {
    const file = join(t.config.dataDir, 'admin.key');
    assert.equal(readFileSync(file, 'utf8').trim(), t.adminKey);
    assert.equal((statSync(file).mode & 0o777).toString(8), '600');
    const db = readFileSync(join(t.config.dataDir, 'bothub.db'));
    assert.equal(db.includes(Buffer.from(parseApiKey(t.adminKey)!.secret)), false, 'the secret part of the key is not in the database');
  });

  it('answers every route of the table as expected for {no key, wrong key, other user, owner, admin}', async () => {
    const fx = fixtures(t, alice);
    let n = 0;
    for (const [name, def] of Object.entries(routes) as [RouteName, (typeof routes)[RouteName]][]) {
      const make = fx[name];
      assert.ok(make, `route ${name} has a fixture (add one when adding a route)`);
      const auth = (def as { auth?: string }).auth ?? 'user';
      const fresh = () => `m${++n}-${name.toLowerCase().slice(0, 20)}`;
      const expectDenied = async (token: string | undefined, rule: number[], who: string, pick?: (c: Call) => number[] | undefined) => {
        const call = await make(fresh());
        const want = pick?.(call) ?? rule;
        const status = await send(t, name, call, token);
        assert.ok(want.includes(status), `${name} with ${who}: ${status}, expected ${want.join('/')}`);
      };
      if (auth === 'none') {
        await expectDenied(undefined, [200], 'no key');
        continue;
      }
      await expectDenied(undefined, [401], 'no key');
      await expectDenied('bh_aaaaaaaaaaaa_' + 'b'.repeat(32), [401], 'a wrong key');
      const params = (def as { params?: unknown }).params !== undefined;
      // Another user: admin routes are forbidden; someone else's resource does not exist (404, as a missing one).
      const other = auth === 'admin' ? [403] : params ? [404] : [200, 201, 204, 400, 404, 409];
      await expectDenied(bobKey, other, "another user's key", (c) => (auth === 'admin' ? undefined : c.other));
      const owner = auth === 'admin' ? [403] : [200, 201, 204, 400, 426];
      await expectDenied(aliceKey, owner, "the owner's key", (c) => (auth === 'admin' ? undefined : c.owner));
      await expectDenied(t.adminKey, [200, 201, 204, 400, 404, 426], 'the admin key', (c) => c.admin);
    }
  });

  it('slows down repeated failures from one address with 429', async () => {
    const limited = await startTestDaemon();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await fetch(`${limited.url}/api/v1/sandboxes`, { headers: { authorization: 'Bearer nope' } })).status);
      assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
      assert.equal((await limited.api.call('health')).status, 'ok', 'public routes still answer');
    } finally {
      await limited.cleanup();
    }
  });

  it('a user sees only their own sandboxes; the admin sees all; user rm refuses, then --force destroys', async () => {
    const bob = t.as(bobKey);
    assert.ok(!(await bob.call('listSandboxes')).some((s) => s.name === 'alice-box'), "bob does not see alice's sandbox");
    assert.ok((await t.api.call('listSandboxes')).some((s) => s.name === 'alice-box' && s.owner === 'alice'));
    await assert.rejects(bob.call('exec', { params: { name: 'alice-box' }, body: { command: ['true'] } }), /no sandbox named "alice-box"/);
    const refused = await cli(t.url, ['user', 'rm', 'alice']);
    assert.equal(refused.code, 5);
    assert.match(refused.stderr, /owns \d+ sandbox\(es\).*pass --force/);
    const rotated = await cli(t.url, ['user', 'rotate-key', 'bob']);
    assert.equal(rotated.code, 0);
    await assert.rejects(bob.call('listSandboxes'), /API key is not valid/);
  });

  it('enforces quotas', async () => {
    const { key } = await t.api.call('createUser', { body: { name: 'dave', quota: { maxSandboxes: 1, maxMemoryMb: 600 } } });
    const dave = t.as(key);
    await assert.rejects(dave.call('createSandbox', { body: { name: 'dave-big', memoryMb: 700 } }), /user dave may use 600 MB of memory and has 0 MB; this needs 700 MB more/);
    await dave.call('createSandbox', { body: { name: 'dave-1', memoryMb: 256 } });
    await assert.rejects(dave.call('createSandbox', { body: { name: 'dave-2', memoryMb: 64 } }), /user dave may run 1 sandbox\(es\) and has 1 \(dave-1\); destroy or stop one, or ask the admin to raise --max-sandboxes/);
    await t.api.call('removeUser', { params: { name: 'dave' }, query: { force: true } });
    await assert.rejects(t.api.call('getSandbox', { params: { name: 'dave-1' } }), /no sandbox named/);
    // null is "no limit", and stays null (a coercing validator once made it 0: "nothing allowed").
    const erin = await t.api.call('createUser', { body: { name: 'erin', quota: { maxSandboxes: null, maxMemoryMb: 256 } } });
    assert.deepEqual(erin.user.quota, { maxSandboxes: null, maxMemoryMb: 256, maxSnapshotBytes: null, maxDiskMb: null, maxGpus: null });
    await t.api.call('removeUser', { params: { name: 'erin' }, query: {} });
  });

  it('fuzzes every route with random inputs: no 5xx, the daemon keeps answering', async () => {
    const keys = [t.adminKey, aliceKey];
    const names = Object.keys(routes) as RouteName[];
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('alice-box', 'debian', '..', '../../etc', '%00', 'a'.repeat(300), 'ALICE_TOKEN'));
    const value = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 3 }), fc.dictionary(text, text, { maxKeys: 3 }));
    const body = fc.oneof(
      fc.constant(undefined),
      fc.dictionary(fc.constantFrom('name', 'command', 'memoryMb', 'cpus', 'env', 'image', 'value', 'leaveRunning', 'network', 'quota', 'x'), value, { maxKeys: 4 }),
      value,
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...names),
        fc.constantFrom(...keys),
        text,
        body,
        fc.dictionary(fc.constantFrom('offset', 'limit', 'follow', 'sandbox', 'name', 'force'), text, { maxKeys: 2 }),
        async (route, key, param, b, query) => {
          if (route === 'createSnapshot' || route === 'restoreSnapshot' || route === 'buildImage' || route === 'logs') query = { ...query, follow: 'false' };
          const call: Call = { params: { name: param }, query, body: b };
          const status = await send(t, route, call, key).catch((e: Error) => {
            throw new Error(`${route} ${JSON.stringify(call)}: ${e.message}`);
          });
          assert.ok(status < 500, `${route} ${JSON.stringify(call)} → ${status}`);
        },
      ),
      { numRuns: 400 },
    );
    assert.equal((await t.api.call('health')).status, 'ok');
    // Whatever the fuzzer managed to create goes again.
    for (const s of await t.api.call('listSandboxes')) if (s.name !== 'alice-box') await t.api.call('destroySandbox', { params: { name: s.name } });
  });
});

describe('secrets', () => {
  let t: TestDaemon;
  const VALUE = 'sk-live-7f3a9c1e5b2d4680aa11bb22cc33dd44';
  before(async () => {
    t = await startTestDaemon({ logLevel: 'trace' });
  });
  after(async () => {
    await t.cleanup();
  });

  it('sets from stdin, exposes to the sandbox as env, and never shows the value again', async () => {
    const set = await cli(t.url, ['secret', 'set', 'OPENAI_KEY'], `${VALUE}\n`);
    assert.equal(set.code, 0, set.stderr);
    const list = await cli(t.url, ['--json', 'secret', 'list']);
    assert.equal(list.stdout.includes(VALUE), false);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name),
      ['OPENAI_KEY'],
    );
    const create = await cli(t.url, ['create', '--name', 'sec', '--secret', 'OPENAI_KEY', '--', 'sh', '-c', 'echo main sees ${#OPENAI_KEY} chars; exec sleep 1000']);
    assert.equal(create.code, 0, create.stderr);
    assert.equal(await sh(t, 'sec', 'printf %s "$OPENAI_KEY"'), VALUE);
    const inspect = await cli(t.url, ['inspect', 'sec']);
    assert.equal(inspect.stdout.includes(VALUE), false);
    assert.match(inspect.stdout, /"secrets": \[\s*"OPENAI_KEY"\s*\]/);
    await until('the main command', async () =>
      (await (await t.api.fetch('logs', { params: { name: 'sec' }, query: {} })).text()).includes('main sees 40 chars') ? true : undefined,
    );
    const missing = await cli(t.url, ['create', '--secret', 'NOPE']);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no secret named "NOPE"; set it first/);
  });

  it('is not in the database file, the daemon log, the sandbox config, snapshot or cold directories in clear', async () => {
    // The main command (sleep) holds the value in its environment, so it is in the sandbox's memory pages.
    const snap = await snapshot(t, 'sec', 'sec-snap', true);
    assert.equal(snap.encrypted, true);
    await t.api.call('freezeSandbox', { params: { name: 'sec' } });
    const needle = Buffer.from(VALUE);
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
    const sb = await t.api.call('getSandbox', { params: { name: 'sec' } });
    const checked = [
      ...files(t.config.dataDir).filter((f) => /bothub\.db/.test(f)),
      ...files(join(t.config.dataDir, 'snapshots')),
      ...files(join(t.config.dataDir, 'cold')),
      join(t.config.dataDir, 'sandboxes', sb.id, 'config.json'),
      t.logFile!,
    ];
    for (const f of checked) assert.equal(readFileSync(f).includes(needle), false, `${f} holds the secret in clear`);
    assert.ok(checked.length > 5);
    assert.match(readFileSync(t.logFile!, 'utf8'), /"url":"\/api\/v1\/secrets\/OPENAI_KEY"/, 'the log did see the request');
    assert.ok(
      checked.some((f) => f.includes('/cold/')),
      'the cold images were checked',
    );
    assert.ok(!readFileSync('/proc/self/mounts', 'utf8').includes('clear-images'), 'no clear copy is left mounted');
  });

  it('encrypted snapshots and cold sandboxes come back with the value where it was', async () => {
    assert.equal(await sh(t, 'sec', 'tr "\\0" "\\n" < /proc/$(pidof sleep)/environ | grep ^OPENAI_KEY='), `OPENAI_KEY=${VALUE}\n`);
    await restore(t, 'sec-snap', 'sec-branch');
    assert.equal(await sh(t, 'sec-branch', 'tr "\\0" "\\n" < /proc/$(pidof sleep)/environ | grep ^OPENAI_KEY='), `OPENAI_KEY=${VALUE}\n`);
    await t.api.call('destroySandbox', { params: { name: 'sec-branch' } });
    // No main command: an empty console log, encrypted to nothing but its tag, must open too.
    await t.api.call('createSandbox', { body: { name: 'sec-quiet', secrets: ['OPENAI_KEY'] } });
    assert.equal((await snapshot(t, 'sec-quiet', 'sec-quiet-snap', true)).encrypted, true);
    await restore(t, 'sec-quiet-snap', 'sec-quiet-branch');
    assert.equal(await sh(t, 'sec-quiet-branch', 'printf %s "$OPENAI_KEY"'), VALUE);
    await Promise.all(['sec-quiet', 'sec-quiet-branch'].map((name) => t.api.call('destroySandbox', { params: { name } })));
  });
});

describe('sandbox hardening', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });

  it('blocks mount, module loading and the other calls containers do not need', async () => {
    await t.api.call('createSandbox', { body: { name: 'jail' } });
    const r = (cmd: string) => t.api.call('exec', { params: { name: 'jail' }, body: { command: ['sh', '-c', cmd] } });
    assert.notEqual((await r('mount -t tmpfs none /mnt')).exitCode, 0);
    await put(t, 'jail', '/root/calls.py', CALLS);
    const out = await sh(t, 'jail', 'python3 /root/calls.py');
    assert.equal(out, 'mount EPERM\ninit_module EPERM\nkexec_load EPERM\nunshare EPERM\nsetns EPERM\nbpf EPERM\n');
    const status = await sh(t, 'jail', 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status');
    assert.match(status, /CapEff:\s+00000000000405fb/, 'exactly the documented capabilities');
    assert.match(status, /NoNewPrivs:\s+1/);
    assert.match(status, /Seccomp:\s+2/);
  });

  it('keeps image layers read-only and masks /proc and /sys as runc does', async () => {
    const image = t.daemon.ctx.images.rootfs('debian');
    const before = readFileSync(join(image, 'etc/os-release'));
    await sh(t, 'jail', 'echo tampered > /etc/os-release');
    assert.deepEqual(readFileSync(join(image, 'etc/os-release')), before, 'writes land in the sandbox layer, never in the image');
    assert.equal(await sh(t, 'jail', 'cat /proc/kcore 2>/dev/null | wc -c; ls /sys/firmware | wc -l'), '0\n0\n');
    assert.notEqual((await t.api.call('exec', { params: { name: 'jail' }, body: { command: ['sh', '-c', 'echo 1 > /proc/sys/kernel/sysrq'] } })).exitCode, 0);
  });

  it("cannot reach the host's loopback, the daemon's port, or another sandbox", async () => {
    const port = new URL(t.url).port;
    const gateway = t.config.subnet.replace(/\.0\/\d+$/, '.1');
    const other = await t.api.call('createSandbox', { body: { name: 'neighbour' } });
    await sh(t, 'neighbour', 'nohup python3 -m http.server 8000 >/dev/null 2>&1 &');
    await until('the neighbour server', () => fetch(`http://${other.address}:8000/`).then((r) => (r.ok ? true : undefined)));
    const probe = (host: string, p: string | number) =>
      sh(t, 'jail', `python3 -c "import socket; s=socket.socket(); s.settimeout(1)\ntry:\n  s.connect(('${host}', ${p})); print('open')\nexcept Exception as e: print('closed')"`);
    assert.equal(await probe('127.0.0.1', port), 'closed\n', "the sandbox's 127.0.0.1 is its own");
    assert.equal(await probe(gateway, port), 'closed\n', 'the host is closed to sandboxes');
    assert.equal(await probe(gateway, 22), 'closed\n');
    assert.equal(await probe(other.address!, 8000), 'closed\n', 'another sandbox is out of reach');
  });

  it("a fork bomb and a memory hog in one sandbox leave another sandbox's exec latency normal", async () => {
    await t.api.call('createSandbox', { body: { name: 'rogue', cpus: 0.5, memoryMb: 128 } });
    const latency = async () => {
      const samples: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t0 = performance.now();
        await t.api.call('exec', { params: { name: 'jail' }, body: { command: ['true'] } });
        samples.push(performance.now() - t0);
      }
      return samples.sort((a, b) => a - b)[7]!;
    };
    const calm = await latency();
    // How the attack's own exec ends is not the point (its OOM killer may take the exec's connection to init with it): the other sandbox is.
    await t.api
      .call('exec', {
        params: { name: 'rogue' },
        body: { command: ['sh', '-c', 'nohup python3 -c "b = bytearray(1 << 30)" >/dev/null 2>&1 & bomb() { bomb | bomb & }; bomb'], timeoutMs: 3000 },
      })
      .catch((e: BothubError) => assert.equal(e.code, 'RUNTIME_FAILED'));
    const stressed = await latency();
    assert.ok(stressed < Math.max(calm * 5, 50), `exec in the other sandbox: ${calm.toFixed(1)} ms calm, ${stressed.toFixed(1)} ms under attack`);
    await t.api.call('destroySandbox', { params: { name: 'rogue' } });
  });
});

const CALLS = `
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
NR = {'mount': 165, 'init_module': 175, 'kexec_load': 246, 'unshare': 272, 'setns': 308, 'bpf': 321}
args = {'mount': (b"none", b"/mnt", b"tmpfs", 0, 0), 'init_module': (0, 0, b""), 'kexec_load': (0, 0, 0, 0), 'unshare': (0x20000,), 'setns': (0, 0), 'bpf': (0, 0, 0)}
for name, nr in NR.items():
    r = libc.syscall(nr, *args[name])
    e = ctypes.get_errno()
    print(name, 'OK' if r == 0 else errno.errorcode.get(e, e))
`;
