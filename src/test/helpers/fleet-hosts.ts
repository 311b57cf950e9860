import { cli } from './cli.js';
import { startTestDaemon, type TestDaemon } from './daemon.js';
import { until } from './sandbox.js';
import { startSshHost, type TestSshHost } from './ssh-host.js';

/** A test daemon with two SSH hosts beside it (host-a and host-b once added). */
export interface TestFleet {
  t: TestDaemon;
  a: TestSshHost;
  b: TestSshHost;
  /** Waits for the heartbeat to see a host answer after this call (one cut off, or whose agent was killed). */
  reachable(name: string): Promise<true>;
  cleanup(): Promise<void>;
}

export async function startFleet(): Promise<TestFleet> {
  const t = await startTestDaemon({ heartbeatMs: 300 });
  const [a, b] = await Promise.all([startSshHost(), startSshHost()]);
  return {
    t,
    a,
    b,
    // Seen after the call: a status written before it may be a beat's that has not yet timed out.
    reachable: (name) => {
      const since = new Date().toISOString();
      return until(
        `${name} reachable`,
        async () => {
          const h = await t.api.call('getHost', { params: { name } });
          return h.status === 'reachable' && h.lastSeenAt !== null && h.lastSeenAt >= since ? true : undefined;
        },
        30_000,
      );
    },
    async cleanup() {
      // The hosts go even when the daemon's own check fails: their sshd and agents would keep the run alive.
      try {
        await t.cleanup();
      } finally {
        await Promise.all([a.cleanup(), b.cleanup()]);
      }
    },
  };
}

/** Adds both hosts as `bothub host add` does (fleet.test.ts checks that command itself). */
export async function addHosts({ t, a, b }: TestFleet): Promise<void> {
  for (const [name, host] of [['host-a', a], ['host-b', b]] as const) {
    const r = await cli(t.url, ['host', 'add', name, '--ssh', `root@${host.address}`, '--key', host.keyFile, '--dir', host.dataDir]);
    if (r.code !== 0) throw new Error(`adding ${name}: ${r.stderr}`);
  }
}
