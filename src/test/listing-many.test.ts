import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newSandboxRow } from '../daemon/services/sandbox-records.js';
import { startInjectDaemon, type InjectDaemon } from './helpers/inject-daemon.js';

const SANDBOXES = 1_100; // past two of the batches the preview URLs are read in
const HOSTS = 30;

/**
 * Lists read their records whole, not one query a row (1,000 sandboxes were
 * 1,000 round trips to PostgreSQL, and the load test's pool ran dry): what
 * each row shows must still be that row's own, past every batch boundary.
 */
describe('listing a large fleet', () => {
  let t: InjectDaemon;
  const name = (i: number) => `many-${String(i).padStart(4, '0')}`;
  const host = (i: number) => `many-host-${String(i % HOSTS).padStart(2, '0')}`;
  before(async () => {
    t = await startInjectDaemon();
    const db = t.daemon.db;
    const now = new Date().toISOString();
    const { fingerprint } = await t.api.call('getHost', { params: { name: 'local' } });
    const admin = await db.selectFrom('users').select('id').where('admin', '=', 1).executeTakeFirstOrThrow();
    const hosts = Array.from({ length: HOSTS }, (_, i) => ({
      name: host(i),
      address: `192.0.2.${i + 1}`, // TEST-NET-1: never routed; nothing here connects
      port: 22,
      username: 'root',
      key_sealed: Buffer.from('unused: nothing here connects'),
      host_key: 'SHA256:unused',
      fingerprint_json: JSON.stringify(fingerprint),
      status: i === 3 ? ('unreachable' as const) : ('reachable' as const),
      status_reason: null,
      last_seen_at: now,
      created_at: now,
      data_dir: '/var/lib/bothub',
      agent_key_sealed: null,
    }));
    await db.insertInto('hosts').values(hosts).execute();
    const rows = Array.from({ length: SANDBOXES }, (_, i) => ({
      ...newSandboxRow({ name: name(i), image: 'debian', cpus: null, memoryMb: 256, pidsLimit: 512, network: 'default', command: [], env: {}, secrets: [], ownerId: admin.id, idleWarmMs: null, idleColdMs: null, keepHot: false, host: host(i), gpus: 0, diskMb: null }),
      status: 'running' as const,
      address: `10.78.${Math.floor(i / 250)}.${(i % 250) + 2}`,
      created_at: new Date(Date.parse(now) + i).toISOString(), // the list's order
    }));
    for (let i = 0; i < rows.length; i += 200) await db.insertInto('sandboxes').values(rows.slice(i, i + 200)).execute();
    // Every 97th sandbox publishes its index as a port, one in three of them publicly.
    const published = rows.filter((_, i) => i % 97 === 0).map((r, k) => ({ sandbox_id: r.id, port: 1000 + k * 97, public: k % 3 === 0 ? 1 : 0, created_at: now }));
    await db.insertInto('publications').values(published).execute();
  });
  after(() => t.cleanup());

  it("shows each sandbox's own preview URLs and host state, and each host's own count", async () => {
    const list = await t.api.call('listSandboxes');
    assert.equal(list.length, SANDBOXES);
    list.forEach((s, i) => {
      assert.equal(s.name, name(i));
      const expected = i % 97 === 0 ? [{ port: 1000 + i, public: (i / 97) % 3 === 0 }] : [];
      assert.deepEqual(
        s.urls.map((u) => ({ port: u.port, public: u.public })),
        expected,
        s.name,
      );
      for (const u of s.urls) assert.ok(u.url.startsWith(`http://${s.name}-${u.port}.`), u.url);
      assert.equal(s.status, i % HOSTS === 3 ? 'unknown' : 'running', `${s.name} on ${s.host}`);
    });
    // One sandbox read alone shows the same as in the list.
    const one = await t.api.call('getSandbox', { params: { name: name(97 * 4) } });
    assert.deepEqual(one, list[97 * 4]);

    const hosts = await t.api.call('listHosts');
    assert.equal(hosts[0]!.name, 'local');
    assert.equal(hosts[0]!.sandboxes, 0);
    for (const h of hosts.slice(1)) {
      const i = Number(h.name.slice(-2));
      assert.equal(h.sandboxes, Math.floor(SANDBOXES / HOSTS) + (i < SANDBOXES % HOSTS ? 1 : 0), h.name);
      assert.equal((await t.api.call('getHost', { params: { name: h.name } })).sandboxes, h.sandboxes);
    }
  });
});
