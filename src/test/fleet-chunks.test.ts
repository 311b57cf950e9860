import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SYSTEM } from '../core/index.js';
import type { MoveResultT, ProgressEventT } from '../api/index.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { sh, snapshot, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

const MiB = 1 << 20;

/**
 * Moves send chunks, not files: each host keeps the chunks of the cold
 * images it let go (a bounded cache in its own store), so a sandbox moving
 * back and forth sends what changed since it was last there, not its size.
 */
describe('moves and restores on another host send only the chunks the target lacks', () => {
  let t: TestDaemon;
  let a: TestSshHost;
  const sum = () => sh(t, 'traveller', 'sha256sum < /root/big');
  const chunksOn = (dir: string) => readdirSync(dir).filter((e) => /^[0-9a-f]{2}$/.test(e)).reduce((n, d) => n + readdirSync(join(dir, d)).length, 0);
  const move = async (to: string) => {
    // A heartbeat missed on a loaded machine marks the host unreachable for a moment, and a move there is refused meanwhile.
    await until('host-a reachable', async () => ((await t.api.call('getHost', { params: { name: 'host-a' } })).status === 'reachable' ? true : undefined), 120_000);
    const result: MoveResultT = await t.daemon.ctx.moves.move('traveller', to, SYSTEM);
    process.stderr.write(`# move to ${to}: ${(result.bytes / MiB).toFixed(2)} MiB sent, transfer ${result.transferMs} ms, total ${result.totalMs} ms\n`);
    assert.equal(result.sandbox.host, to);
    return result;
  };

  before(async () => {
    t = await startTestDaemon();
    a = await startSshHost();
    // Straight to the service: installing the agent on a loaded machine can outlast an HTTP client's patience.
    await t.daemon.ctx.hosts.add({ name: 'host-a', ssh: `root@${a.address}`, privateKey: readFileSync(a.keyFile, 'utf8'), dataDir: a.dataDir });
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await a.cleanup();
    }
  });

  it('a sandbox with 64 MiB of state moves out whole, then back and out again sending only the ~4 MiB that changed each time', async () => {
    await t.api.call('createSandbox', { body: { name: 'traveller', memoryMb: 256 } });
    await sh(t, 'traveller', 'head -c 67108864 /dev/urandom > /root/big && nohup sleep 1000000 >/dev/null 2>&1 &');
    let want = await sum();

    const first = await move('host-a');
    assert.ok(first.bytes >= 64 * MiB, `the first move sent ${first.bytes} bytes: everything`);
    assert.equal(await sum(), want);
    // The host keeps its own chunk store, filled as it froze nothing yet: the shipped chunks were put together and let go.
    await sh(t, 'traveller', 'dd if=/dev/urandom of=/root/big bs=1M count=4 seek=20 conv=notrunc status=none');
    want = await sum();

    const second = await move('local');
    assert.ok(second.bytes < 10 * MiB, `the move back sent ${(second.bytes / MiB).toFixed(1)} MiB, not the whole sandbox again`);
    assert.ok(second.bytes >= 4 * MiB, `it sent the 4 MiB that changed (${second.bytes} bytes)`);
    assert.equal(await sum(), want);
    assert.ok(chunksOn(join(a.dataDir, 'snapshots', '.chunks')) >= 64, "host-a's store keeps the chunks of the image it let go");
    await sh(t, 'traveller', 'dd if=/dev/urandom of=/root/big bs=1M count=4 seek=40 conv=notrunc status=none');
    want = await sum();

    const third = await move('host-a');
    assert.ok(third.bytes < 10 * MiB && third.bytes >= 4 * MiB, `the third move sent ${(third.bytes / MiB).toFixed(1)} MiB`);
    assert.equal(await sum(), want);
  });

  it('a snapshot restored on a host sends only the chunks that host lacks', async () => {
    if ((await t.api.call('getSandbox', { params: { name: 'traveller' } })).host !== 'local') await move('local');
    await snapshot(t, 'traveller', 'trip', true);
    await until('trip ready', async () => ((await t.api.call('listSnapshots', { query: {} })).find((s) => s.name === 'trip')?.status === 'ready' ? true : undefined), 600_000);
    // What host-a's store holds now (its cache kept the chunks of the cold image it let go): exactly the rest is to be sent.
    const onHost = new Set(
      readdirSync(join(a.dataDir, 'snapshots', '.chunks'))
        .filter((d) => /^[0-9a-f]{2}$/.test(d))
        .flatMap((d) => readdirSync(join(a.dataDir, 'snapshots', '.chunks', d)).filter((f) => /^[0-9a-f]{64}$/.test(f))),
    );
    const trip = await t.daemon.db.selectFrom('snapshots').select('id').where('name', '=', 'trip').executeTakeFirstOrThrow();
    const wanted = (await t.daemon.db.selectFrom('snapshot_chunks').select('hash').where('snapshot_id', '=', trip.id).execute()).map((r) => r.hash);
    const lacking = wanted.filter((h) => !onHost.has(h)).length;
    const plans: { sent: number; of: number; bytes: number }[] = [];
    const branch = await t.daemon.ctx.moves.restoreSnapshotOn('trip', { name: 'trip-branch', host: 'host-a' }, SYSTEM, {
      onProgress: (p: ProgressEventT) => {
        const m = p.message && /^(\d+) of (\d+) chunk\(s\) to send$/.exec(p.message);
        if (m) plans.push({ sent: Number(m[1]), of: Number(m[2]), bytes: p.total ?? 0 });
      },
    });
    assert.equal(branch.host, 'host-a');
    const plan = plans[0];
    assert.ok(plan, 'the transfer said how many chunks it sends');
    process.stderr.write(`# snapshot restored on host-a: ${plan.sent} of ${plan.of} chunks sent (${(plan.bytes / MiB).toFixed(2)} MiB)\n`);
    assert.equal(plan.of, wanted.length);
    assert.equal(plan.sent, lacking, 'exactly the chunks host-a lacked');
    // The 64 MiB file's chunks were there; what differs is CRIU's small images (one chunk each) and pages the processes wrote.
    assert.ok(plan.of >= 64 && plan.bytes < 8 * MiB, `${plan.sent} of ${plan.of} chunks (${plan.bytes} bytes) sent`);
    assert.equal(await sh(t, 'trip-branch', 'sha256sum < /root/big'), await sum());
    await t.api.call('destroySandbox', { params: { name: 'trip-branch' } });
    await t.api.call('destroySandbox', { params: { name: 'traveller' } });
    await t.api.call('deleteSnapshot', { params: { name: 'trip' } });
  });
});
