import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConsistencyReportT, ProgressEventT, SandboxT, SnapshotT } from '../api/index.js';
import type { BothubError } from '../core/index.js';
import { parseS3Url, type SnapshotManifest } from '../runtime/index.js';
import { S3ChunkStore, s3ClientFromEnv } from '../runtime/s3.js';
import { cli } from './helpers/cli.js';
import type { TestDaemon } from './helpers/daemon.js';
import { startDaemonCluster, type DaemonCluster } from './helpers/daemon-cluster.js';
import type { DaemonProcess } from './helpers/daemon-process.js';
import { heldSha, startHolding, ticks } from './helpers/held-memory.js';
import { startS3, type TestS3 } from './helpers/s3.js';
import { sh, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

/** A heartbeat round that fails (10 s without an answer, on a loaded machine) is followed by another: several may pass before one succeeds. */
const HEARTBEAT_WAIT_MS = 60_000;
const PREFIX = 'kept';

const isCode = (code: string, message: RegExp) => (e: BothubError) => e.code === code && message.test(e.message) && !e.message.includes('\n');

/**
 * `bothub snapshot restore SNAP --host B` of a snapshot host A's agent keeps
 * (control planes on one PostgreSQL database): with BOTHUB_STORE the hosts
 * send the chunks through S3 themselves, without it they go over SSH through
 * the control plane; either way the restored sandbox runs on B with its
 * memory, its counter and its files as they were, and the snapshot stays kept on A.
 */
for (const withS3 of [true, false]) {
  describe(`a snapshot one fleet host keeps, restored on another (${withS3 ? 'through S3' : 'over SSH, no object store'})`, () => {
    let c: DaemonCluster;
    let d: DaemonProcess;
    /** The test helpers' view of the control plane (they use only its API). */
    let t: TestDaemon;
    let ha: TestSshHost, hb: TestSshHost;
    let s3: TestS3 | undefined;
    let sha = '';

    before(async () => {
      [ha, hb] = await Promise.all([startSshHost(), startSshHost()]);
      let env: Record<string, string> = {};
      if (withS3) {
        // The store listens on this machine's end of A's veth pair; B reaches it through its own pair (a default route there).
        const here = ha.address.replace(/\.2$/, '.1');
        for (const h of [ha, hb]) execFileSync('ip', ['-n', h.netns, 'route', 'add', 'default', 'via', h.address.replace(/\.2$/, '.1')]);
        s3 = await startS3('bothub-kept', here);
        env = { BOTHUB_STORE: `s3://${s3.bucket}/${PREFIX}`, ...s3.env };
      }
      // Heartbeats every 5 s: a loaded machine makes one miss now and then, and each miss marks a host unreachable until the next.
      c = await startDaemonCluster(1, { BOTHUB_HEARTBEAT: '5s', ...env });
      d = c.daemons[0]!;
      t = { api: d.api, url: d.url } as TestDaemon;
      for (const [name, host] of [
        ['h1', ha],
        ['h2', hb],
      ] as const) {
        const adding = d.api.call('addHost', { body: { name, ssh: `root@${host.address}`, privateKey: readFileSync(host.keyFile, 'utf8'), dataDir: host.dataDir } });
        // Installing the agent can outlast the client's wait for an answer on a loaded machine: the record says when it is done.
        await adding.catch((e: BothubError) => (/UND_ERR_HEADERS_TIMEOUT/.test(e.message) ? undefined : Promise.reject(e)));
      }
      await reachable();
      await d.api.call('createSandbox', { body: { name: 'box', host: 'h1', memoryMb: 256 } });
      await sh(t, 'box', 'echo kept > /root/note');
      sha = await startHolding(t, 'box', 16);
    });
    after(async () => {
      try {
        await c?.stop();
      } finally {
        await Promise.all([ha?.cleanup(), hb?.cleanup(), s3?.stop()]);
      }
    });

    const reachable = () =>
      until(
        'both hosts reachable',
        async () => ((await d.api.call('listHosts', {})).filter((h) => h.name === 'h1' || h.name === 'h2').every((h) => h.status === 'reachable') ? true : undefined),
        HEARTBEAT_WAIT_MS,
      );
    const snapshot = (name: string, leaveRunning: boolean) =>
      d.api.progress<SnapshotT>('createSnapshot', { params: { name: 'box' }, body: { name, leaveRunning } }, () => undefined);
    const ready = (name: string) =>
      until(`snapshot ${name} durable on its host`, async () => ((await d.api.call('getSnapshot', { params: { name } })).status === 'ready' ? true : undefined), 60_000);
    const restore = async (snap: string, body: { name?: string; host?: string }, steps: string[] = []) =>
      d.api.progress<SandboxT>('restoreSnapshot', { params: { name: snap }, body }, (p: ProgressEventT) => steps.push(p.step));
    /** Memory, counter and file of the sandbox, as they were when the snapshot was taken. */
    const stateKept = async (name: string, ticksBefore: number) => {
      assert.equal(await heldSha(t, name), sha, `the memory of ${name} is as it was`);
      assert.equal(await sh(t, name, 'cat /root/note'), 'kept\n');
      const now = await ticks(t, name);
      assert.ok(now >= ticksBefore, `${name} counts on from ${ticksBefore} (now ${now})`);
      await until(`${name} to tick on`, async () => ((await ticks(t, name)) > now ? true : undefined));
    };
    /** What was copied to B went once the sandbox ran there. */
    const nothingLeftOnB = () => assert.deepEqual(existsSync(join(hb.dataDir, 'incoming')) ? readdirSync(join(hb.dataDir, 'incoming')) : [], []);
    const consistent = async () => {
      const report: ConsistencyReportT = await d.api.call('doctorConsistency', { query: {} });
      assert.deepEqual(report.problems, [], JSON.stringify(report.problems));
    };
    const manifestOnA = (snap: SnapshotT) => JSON.parse(readFileSync(join(ha.dataDir, 'snapshots', snap.id, 'manifest.json'), 'utf8')) as SnapshotManifest;
    const inBucket = async () => {
      const all = new Set<string>();
      for await (const x of new S3ChunkStore(s3ClientFromEnv(s3!.env), parseS3Url(`s3://${s3!.bucket}/${PREFIX}`)).list()) all.add(x.hash);
      return all;
    };

    it('a branch on host B runs with the memory, counter and files it had on A; the snapshot stays kept on A', async () => {
      const ticksBefore = await ticks(t, 'box');
      const snap = await snapshot('box-1', true);
      assert.equal(snap.keptOn, 'h1');
      await ready('box-1');
      await reachable();
      const mark = s3?.requests.length ?? 0;
      const r = await cli(d.url, ['snapshot', 'restore', 'box-1', '--name', 'branch', '--host', 'h2'], undefined, { BOTHUB_TOKEN: d.token });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /restored from box-1 on host h2/);
      assert.equal((await d.api.call('getSandbox', { params: { name: 'branch' } })).host, 'h2');
      await stateKept('branch', ticksBefore);
      nothingLeftOnB();
      // Kept where it was, once: one record, on A.
      const listed = (await d.api.call('listSnapshots', { query: {} })).filter((x) => x.name === 'box-1');
      assert.deepEqual(
        listed.map((x) => x.keptOn),
        ['h1'],
      );
      if (s3) {
        const chunks = new Set(Object.values(manifestOnA(snap).files).flatMap((f) => f.chunks ?? []));
        const seen = s3.requests.slice(mark).filter((q) => q.path.startsWith(`/${s3!.bucket}/${PREFIX}/chunks/`) && chunks.has(q.path.split('/').pop()!));
        const puts = seen.filter((q) => q.method === 'PUT');
        const gets = seen.filter((q) => q.method === 'GET');
        assert.ok(puts.length > 0 && puts.every((q) => q.from === ha.address), `A uploaded the chunks: ${JSON.stringify(puts.slice(0, 3))}`);
        assert.deepEqual(new Set(gets.map((q) => q.path.split('/').pop())), chunks, 'B downloaded every chunk of the snapshot');
        assert.ok(
          gets.every((q) => q.from === hb.address),
          'no chunk was read by anything but B',
        );
        // The store keeps none of them: the snapshot is A's, not the store's.
        const left = await inBucket();
        const layers = new Set((await c.query<{ hash: string }>('select hash from layer_chunks')).map((x) => x.hash));
        assert.deepEqual(
          [...chunks].filter((h) => left.has(h) && !layers.has(h)),
          [],
          "the restore's chunks were collected from the store",
        );
      }
      await consistent();
    });

    it("the snapshot's own sandbox, stopped into it on A, runs again on B and is gone from A", async () => {
      const ticksBefore = await ticks(t, 'box');
      await snapshot('box-2', false);
      await ready('box-2');
      await reachable();
      assert.equal((await d.api.call('getSandbox', { params: { name: 'box' } })).status, 'snapshotted');
      const steps: string[] = [];
      const sb = await restore('box-2', { host: 'h2' }, steps);
      assert.equal(sb.host, 'h2');
      await reachable();
      assert.equal((await d.api.call('getSandbox', { params: { name: 'box' } })).status, 'running');
      for (const step of ['verify', 'image', 'transfer', 'restore']) assert.ok(steps.includes(step), `progress step ${step} in ${steps.join(',')}`);
      await stateKept('box', ticksBefore);
      nothingLeftOnB();
      // A keeps the snapshots, not the sandbox: the consistency check finds no copy of it there.
      assert.deepEqual((await d.api.call('listSnapshots', { query: {} })).map((x) => `${x.name}@${x.keptOn}`).sort(), ['box-1@h1', 'box-2@h1']);
      await consistent();
    });

    if (!withS3) return;

    it('refused in one line, before anything is copied: an incompatible or full target, a host down, this machine', async () => {
      await reachable();
      const [h2] = await c.query<{ fingerprint_json: string }>(`select fingerprint_json from hosts where name = 'h2'`);
      const fingerprint = JSON.parse(h2!.fingerprint_json) as Record<string, unknown>;
      const setFingerprint = (fp: Record<string, unknown>) => c.query(`update hosts set fingerprint_json = $1 where name = 'h2'`, [JSON.stringify(fp)]);
      const noBranch = async () =>
        assert.equal(
          (await d.api.call('listSandboxes')).some((s) => s.name === 'nope'),
          false,
          'no record is left',
        );
      try {
        await setFingerprint({ ...fingerprint, kernel: '1.0.0' });
        await assert.rejects(restore('box-1', { name: 'nope', host: 'h2' }), isCode('INVALID_STATE', /cannot be restored on host "h2": kernel major version differs/));
        await setFingerprint({ ...fingerprint, memoryBytes: 64 * 2 ** 20 });
        await reachable();
        await assert.rejects(restore('box-1', { name: 'nope', host: 'h2' }), isCode('LIMIT_EXCEEDED', /host "h2" has no room.*MB free/));
      } finally {
        await setFingerprint(fingerprint);
      }
      nothingLeftOnB();
      await noBranch();
      await assert.rejects(restore('box-1', { name: 'nope', host: 'local' }), isCode('INVALID_INPUT', /kept on host "h1".*control plane only/));
      await assert.rejects(restore('box-1', { name: 'nope', host: 'nowhere' }), isCode('NOT_FOUND', /nowhere/));

      // A keeping host that does not answer (a copy of h1's record on a closed port), and a target that does not.
      await c.query(
        `insert into hosts (name, address, port, username, key_sealed, host_key, fingerprint_json, status, status_reason, last_seen_at, created_at, data_dir, agent_key_sealed)
         select 'down-host', '127.0.0.1', 1, username, key_sealed, host_key, fingerprint_json, 'unreachable', 'closed port', null, created_at, data_dir, agent_key_sealed from hosts where name = 'h1'`,
      );
      await c.query(
        `insert into snapshots (id, name, sandbox_id, sandbox_name, size_bytes, leave_running, created_at, owner_id, status, host, spec_json)
         select '0123456789ab', 'down-snap', sandbox_id, sandbox_name, size_bytes, 1, created_at, owner_id, 'ready', 'down-host', spec_json from snapshots where name = 'box-1'`,
      );
      await reachable();
      try {
        await assert.rejects(restore('down-snap', { name: 'nope', host: 'h2' }), isCode('UNAVAILABLE', /host "down-host", which keeps its files, does not answer; check it/));
        await assert.rejects(restore('box-1', { name: 'nope', host: 'down-host' }), isCode('UNAVAILABLE', /host "down-host" does not answer; check it.*another host/));
      } finally {
        await c.query(`delete from snapshots where name = 'down-snap'`);
        await c.query(`delete from hosts where name = 'down-host'`);
      }
      nothingLeftOnB();
      await noBranch();
    });

    it('a branch whose keeping host has no room goes to a host that has, copied there', async () => {
      await reachable();
      const [h1] = await c.query<{ fingerprint_json: string }>(`select fingerprint_json from hosts where name = 'h1'`);
      const fingerprint = JSON.parse(h1!.fingerprint_json) as Record<string, unknown>;
      await c.query(`update hosts set fingerprint_json = $1 where name = 'h1'`, [JSON.stringify({ ...fingerprint, memoryBytes: 64 * 2 ** 20 })]);
      try {
        const steps: string[] = [];
        const sb = await restore('box-1', { name: 'roomy' }, steps);
        assert.equal(sb.host, 'h2');
        assert.ok(steps.includes('transfer'), steps.join(','));
        assert.equal(await sh(t, 'roomy', 'cat /root/note'), 'kept\n');
      } finally {
        await c.query(`update hosts set fingerprint_json = $1 where name = 'h1'`, [h1!.fingerprint_json]);
      }
      await d.api.call('destroySandbox', { params: { name: 'roomy' } });
      nothingLeftOnB();
    });

    it('an abort mid-copy leaves no sandbox, no record and no copied files on B', async () => {
      await reachable();
      const abort = new AbortController();
      const steps: string[] = [];
      const restoring = d.api.progress<SandboxT>('restoreSnapshot', { params: { name: 'box-1' }, body: { name: 'cut', host: 'h2' }, signal: abort.signal }, (p) => {
        steps.push(p.step);
        // As the copy starts: on a loaded machine this client may read the line late, and the copy must still be under way.
        if (p.step === 'transfer') abort.abort();
      });
      await assert.rejects(restoring);
      // The daemon sees the request end and undoes what it did: the record goes, and what it copied to B.
      await until(
        'the cut restore to be undone',
        async () => {
          const left = (await d.api.call('listSandboxes')).some((s) => s.name === 'cut');
          const files = existsSync(join(hb.dataDir, 'incoming')) ? readdirSync(join(hb.dataDir, 'incoming')) : [];
          return !left && files.length === 0 ? true : undefined;
        },
        120_000,
      );
      assert.ok(steps.includes('transfer'), steps.join(','));
      await consistent();
    });
  });
}
