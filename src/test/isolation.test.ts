import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';

describe('isolation and limits', () => {
  let t: TestDaemon;
  before(async () => {
    t = await startTestDaemon();
  });
  after(async () => {
    await t.cleanup();
  });
  const run = (name: string, script: string, timeoutMs?: number) => t.api.call('exec', { params: { name }, body: { command: ['sh', '-c', script], timeoutMs } });

  it('sees only its own processes and its own hostname', async () => {
    await t.api.call('createSandbox', { body: { name: 'iso' } });
    const ps = await run('iso', 'ps -eo pid,comm --no-headers');
    const procs = ps.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(procs[0], ['1', 'init'], 'our init is PID 1');
    assert.ok(procs.length <= 4, `only the sandbox's processes: ${ps.stdout}`);
    assert.equal((await run('iso', 'hostname')).stdout, 'iso\n');
    const caps = await run('iso', 'grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status');
    assert.match(caps.stdout, /NoNewPrivs:\s+1/);
    assert.notEqual((await run('iso', 'mount -t tmpfs none /mnt')).exitCode, 0, 'mount is refused');
  });

  it('a process allocating past --memory is killed and that is reported', async () => {
    await t.api.call('createSandbox', { body: { name: 'mem', memoryMb: 64 } });
    const r = await run('mem', 'python3 -c "b = bytearray(256 * 1024 * 1024); print(\'allocated\')"');
    assert.equal(r.oomKilled, true, JSON.stringify(r));
    assert.equal(r.exitCode, 137);
    assert.equal((await run('mem', 'echo alive')).stdout, 'alive\n', 'the sandbox itself lives on');
  });

  it('a fork bomb hits the pids limit and the host is fine', async () => {
    await t.api.call('createSandbox', { body: { name: 'bomb' } });
    const r = await run('bomb', 'bomb() { bomb | bomb & }; bomb; sleep 2; echo done', 10_000);
    assert.ok(r.exitCode !== undefined);
    const pids = t.daemon.ctx.runtime.cgroup((await t.api.call('getSandbox', { params: { name: 'bomb' } })).id).pids();
    assert.ok(pids <= 1024, `pids capped at the limit (saw ${pids})`);
    // Another sandbox still answers.
    assert.equal((await run('iso', 'echo ok')).stdout, 'ok\n');
    await t.api.call('destroySandbox', { params: { name: 'bomb' } });
  });
});
