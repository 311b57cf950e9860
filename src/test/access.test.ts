import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ApiClient } from '../api/index.js';
import { routes, routeUrl, type RouteName, type SnapshotT } from '../api/index.js';
import { parseApiKey } from '../core/index.js';
import { cli } from './helpers/cli.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';
import type { FakeScript } from './helpers/fake-runtime.js';

/** A leave-running snapshot by alice (files only, on the fake runtime). */
const snapshot = (api: ApiClient, sandbox: string, name: string) => api.progress<SnapshotT>('createSnapshot', { params: { name: sandbox }, body: { name, leaveRunning: true } }, () => undefined);

const isTar = (b: Buffer) => b.length >= 512 && b.subarray(257, 262).toString() === 'ustar';

/**
 * What the sandbox's helpers (find, dd, tar, sh) answer for the files the
 * fixtures name: /etc a directory, everything else a small file; `sleep`
 * runs until killed. Enough for the file routes to answer as on a real one.
 */
const sandboxFiles: FakeScript = ({ argv, stdin }) => {
  const path = argv.find((a) => a.startsWith('/')) ?? '/';
  const entry = (p: string) => `${p === '/etc' || p === '/tmp' ? 'd' : 'f'}\t5\t644\t1700000000.0\t`;
  switch (argv[0]) {
    case 'find':
      return argv.includes('-mindepth') ? { stdout: `${entry('hostname')}hostname\0` } : { stdout: entry(path) };
    case 'dd':
      return { stdout: 'box\n' };
    case 'tar':
      return { stdout: Buffer.alloc(10240) };
    case 'sleep':
      return { untilSignal: true };
    case 'sh':
      if (argv[2]?.includes('exec tar')) return isTar(stdin) ? {} : { stderr: 'tar: This does not look like a tar archive\n', exitCode: 2 };
      return {};
    default:
      return undefined;
  }
};

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
function fixtures(t: InjectDaemon, alice: ApiClient): Record<RouteName, (fresh: string) => Promise<Call>> {
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
    setUserQuota: async () => ({ params: { name: 'carol' }, body: { maxGpus: null } }),
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
      await snapshot(alice, 'alice-box', fresh);
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
    // Not parked: answered at once, with the sandbox.
    placeSandbox: async () => ({ params: { name: 'alice-box' } }),
  };
}

async function send(t: InjectDaemon, route: RouteName, call: Call, token?: string): Promise<number> {
  const def = routes[route];
  const url = new URL(routeUrl(def.url, call.params), 'http://inject');
  for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
  const raw = typeof call.body === 'string';
  const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}) };
  if (call.body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
  const body = call.body === undefined || def.method === 'GET' ? undefined : raw ? (call.body as string) : JSON.stringify(call.body);
  if (body === undefined) delete headers['content-type'];
  const res = await t.request(url.pathname + url.search, { method: def.method, headers, body });
  await res.arrayBuffer();
  return res.status;
}

// In-process (Fastify's inject) against a daemon on the fake runtime: access rules and answers,
// not what sandboxes do. Peers networking between real sandboxes is in security.test.ts.
describe('users, keys and access', () => {
  let t: InjectDaemon;
  let alice: ApiClient;
  let aliceKey: string;
  let bobKey: string;
  before(async () => {
    // The matrix sends many bad keys on purpose; the 429 test below has a daemon of its own.
    // The matrix fails authentication twice per route: without the 100 ms each costs, it runs in a few seconds.
    t = await startInjectDaemon({ authMaxFailures: 1_000_000, authFailureDelayMs: 0 });
    t.runtime.script = sandboxFiles;
    aliceKey = (await t.api.call('createUser', { body: { name: 'alice' } })).key;
    bobKey = (await t.api.call('createUser', { body: { name: 'bob' } })).key;
    await t.api.call('createUser', { body: { name: 'carol' } });
    alice = t.as(aliceKey);
    await alice.call('createSandbox', { body: { name: 'alice-box' } });
    await snapshot(alice, 'alice-box', 'alice-snap');
  });
  after(async () => {
    await t.cleanup();
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
    const limited = await startInjectDaemon();
    try {
      const statuses: number[] = [];
      const started = performance.now();
      for (let i = 0; i < 12; i++) statuses.push((await limited.request('/api/v1/sandboxes', { token: 'nope' })).status);
      assert.deepEqual(statuses, [...Array<number>(10).fill(401), 429, 429]);
      // A lower bound, not a speed target: each of the ten failures waited its 100 ms (the default) before its 401.
      assert.ok(performance.now() - started >= 1000, `ten failures took ${(performance.now() - started).toFixed(0)} ms`);
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
    assert.match(refused.stderr, /owns \d+ sandbox\(es\).*`bothub user rm \S+ --force`/);
    const rotated = await cli(t.url, ['user', 'rotate-key', 'bob']);
    assert.equal(rotated.code, 0);
    await assert.rejects(bob.call('listSandboxes'), /API key is not valid/);
  });

  it('refuses a key on the very request after it is rotated, or its user removed, though it was used a moment before', async () => {
    const { key } = await t.api.call('createUser', { body: { name: 'frank' } });
    const frank = t.as(key);
    await frank.call('listSandboxes'); // the daemon now keeps this key's record for a second
    const { key: next } = await t.api.call('rotateUserKey', { params: { name: 'frank' } });
    await assert.rejects(frank.call('listSandboxes'), /API key is not valid/);
    const frankAgain = t.as(next);
    await frankAgain.call('listSandboxes');
    await t.api.call('removeUser', { params: { name: 'frank' }, query: {} });
    await assert.rejects(frankAgain.call('listSandboxes'), /API key is not valid/);
  });

  it('enforces quotas', async () => {
    const { key } = await t.api.call('createUser', { body: { name: 'dave', quota: { maxSandboxes: 1, maxMemoryMb: 600 } } });
    const dave = t.as(key);
    await assert.rejects(dave.call('createSandbox', { body: { name: 'dave-big', memoryMb: 700 } }), /user dave may use 600 MB of memory and has 0 MB; this needs 700 MB more/);
    await dave.call('createSandbox', { body: { name: 'dave-1', memoryMb: 256 } });
    await assert.rejects(dave.call('createSandbox', { body: { name: 'dave-2', memoryMb: 64 } }), /user dave may run 1 sandbox\(es\) and has 1 \(dave-1\); destroy or stop one, or ask the admin to raise it \(`PUT \/api\/v1\/users\/dave\/quota \{"maxSandboxes": N\}`\)/);
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
