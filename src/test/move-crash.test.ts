import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SYSTEM } from '../core/index.js';
import { databaseTarget } from '../daemon/config.js';
import { openDatabase } from '../daemon/db/database.js';
import type { MovePhase } from '../daemon/fleet/move-journal.js';
import { DESTROY_CUT_SHORT } from '../daemon/services/sandbox-service.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { put, sh, until } from './helpers/sandbox.js';
import { startSshHost, type TestSshHost } from './helpers/ssh-host.js';

/** Where the daemon dies: as a phase is about to be journalled (the step before it done), or just after (its step not begun). */
interface KillPoint {
  phase: MovePhase;
  when: 'before' | 'after';
  /** Where the one copy must be after the next start. */
  endsOn: 'local' | 'host-a';
}

const KILL_POINTS: KillPoint[] = [
  { phase: 'transferring', when: 'before', endsOn: 'local' }, // checkpointed here, nothing copied
  { phase: 'importing', when: 'before', endsOn: 'local' }, // state copied to the host, no import asked
  { phase: 'importing', when: 'after', endsOn: 'local' }, // the import about to be asked
  { phase: 'committing', when: 'before', endsOn: 'host-a' }, // imported and answering there; the source's copy still here
  { phase: 'committing', when: 'after', endsOn: 'host-a' }, // committing: the source's copy about to go
];

/**
 * A move killed at each phase (the daemon stops where it stands, as `kill -9`
 * leaves it: nothing after that point runs), then started again: the start-up
 * recovery finishes or undoes it from the move journal, and exactly one copy
 * of the sandbox remains, with its files and processes.
 */
describe('a move or a destroy on a fleet host cut short leaves exactly one copy, or none', () => {
  let t: TestDaemon;
  let a: TestSshHost;
  before(async () => {
    t = await startTestDaemon();
    a = await startSshHost();
    // On a loaded machine the agent's first start can outlast one try.
    await until('host-a added', () => t.api.call('addHost', { body: { name: 'host-a', ssh: `root@${a.address}`, privateKey: readFileSync(a.keyFile, 'utf8'), dataDir: a.dataDir } }), 120_000);
  });
  after(async () => {
    try {
      await t.cleanup();
    } finally {
      await a.cleanup();
    }
  });

  const agentSandboxes = async () => {
    const agent = (await t.daemon.ctx.hosts.endpoint('host-a')).agent!;
    return (await agent.call('listSandboxes')).map((s) => s.name);
  };

  /** Runs a move here that stops for good at `k`: resolves once it stands there. */
  const moveUntil = (name: string, k: KillPoint) =>
    new Promise<void>((stopped, failed) => {
      const journal = t.daemon.ctx.moves.journal;
      const advance = journal.advance.bind(journal);
      const never = new Promise<void>(() => undefined);
      journal.advance = async (id, phase) => {
        if (phase === k.phase && k.when === 'before') return stopped(), never;
        await advance(id, phase);
        if (phase === k.phase && k.when === 'after') return stopped(), never;
      };
      t.daemon.ctx.moves.move(name, 'host-a', SYSTEM).then(() => failed(new Error(`the move passed ${k.when} ${k.phase}`)), failed);
    });

  for (const k of KILL_POINTS) {
    it(`killed ${k.when} journalling "${k.phase}": the sandbox ends on ${k.endsOn}, once, with its state`, async () => {
      const name = `mv-${k.phase.slice(0, 4)}-${k.when}`;
      const sb = await t.api.call('createSandbox', { body: { name } });
      await put(t, name, '/root/mark', `${name}\n`);
      await sh(t, name, 'nohup sleep 100000 >/dev/null 2>&1 & echo $! > /root/held.pid');

      await moveUntil(name, k);
      await t.restart(); // the daemon that stood there is gone; a new one starts on the same data
      // Before anything wakes it: the recovery alone must leave records and reality in agreement.
      assert.deepEqual((await t.api.call('doctorConsistency', { query: {} })).problems, [], 'consistent straight after the restart');

      const now = await t.api.call('getSandbox', { params: { name } });
      assert.equal(now.host, k.endsOn);
      assert.equal(now.status, 'running');
      assert.deepEqual(await t.daemon.ctx.moves.journal.list(), [], 'the journal is settled');
      const onHost = (await agentSandboxes()).includes(name);
      assert.equal(onHost, k.endsOn === 'host-a', 'a copy on host-a only if it ends there');
      const here = await t.daemon.runtime.state(await t.daemon.ctx.sandboxes.row(name));
      if (k.endsOn === 'host-a') {
        assert.equal(here, undefined, 'no container left here');
        assert.equal(existsSync(t.daemon.ctx.thermal.coldDir(sb.id)), false, 'no checkpoint left here');
      }
      const incoming = join(a.dataDir, 'incoming');
      assert.deepEqual(existsSync(incoming) ? readdirSync(incoming) : [], [], 'no copied state left on host-a');
      assert.equal(await sh(t, name, 'cat /root/mark'), `${name}\n`);
      assert.equal(await sh(t, name, 'kill -0 $(cat /root/held.pid) && echo alive'), 'alive\n', 'its processes came along');
      assert.deepEqual((await t.api.call('doctorConsistency', { query: {} })).problems, []);
      await t.api.call('destroySandbox', { params: { name } });
    });
  }

  it('a destroy on host-a cut short, before or after the agent dropped it: the next start finishes it', async () => {
    for (const name of ['gone-there', 'still-there']) await t.api.call('createSandbox', { body: { name, host: 'host-a' } });
    const agent = (await t.daemon.ctx.hosts.endpoint('host-a')).agent!;
    await agent.call('destroySandbox', { params: { name: 'gone-there' } });
    await t.daemon.close();
    // What the dead daemon left: both records marked as being destroyed, and nothing after.
    const db = await openDatabase(databaseTarget(t.config));
    await db.updateTable('sandboxes').set({ status: 'error', status_reason: DESTROY_CUT_SHORT }).where('host', '=', 'host-a').execute().finally(() => db.destroy());
    await t.restart();
    assert.deepEqual((await t.api.call('listSandboxes')).map((s) => s.name), []);
    assert.deepEqual(await agentSandboxes(), []);
    assert.deepEqual((await t.api.call('doctorConsistency', { query: {} })).problems, []);
  });
});
