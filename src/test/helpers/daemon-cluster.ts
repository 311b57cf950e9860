import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startDaemonProcess, type DaemonProcess } from './daemon-process.js';
import { freePort } from './free-port.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { until } from './sandbox.js';
import type { TestSshHost } from './ssh-host.js';

/**
 * Several daemons, each its own process on its own port, on one PostgreSQL
 * database (a server of the test's own) in control-plane-only mode: they
 * share the master key (the hosts' sealed SSH keys open in every one), the
 * admin key (one admin in the shared records) and the snapshot directory.
 */
export interface DaemonCluster {
  daemons: DaemonProcess[];
  databaseUrl: string;
  /** Each daemon's log (JSON lines, level info). */
  logs: string[];
  /** The daemon holding the leader lease now, if one does. */
  leader(): Promise<DaemonProcess | undefined>;
  /** Waits for some daemon to hold the leader lease. */
  awaitLeader(ms?: number): Promise<DaemonProcess>;
  /** A query on the shared database. */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

/** `env`: more environment for every daemon, or for each (by its index: an images directory of its own...). */
export async function startDaemonCluster(count: number, env: Record<string, string> | ((i: number) => Record<string, string>) = {}): Promise<DaemonCluster> {
  const server: TestPostgres = await startPostgres();
  const databaseUrl = await server.createDatabase();
  const shared = mkdtempSync(join(tmpdir(), 'bothub-cluster-'));
  const snapshotsDir = join(shared, 'snapshots');
  const daemons: DaemonProcess[] = [];
  const logs: string[] = [];
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const stop = async () => {
    for (const d of daemons) await d.stop().catch(() => undefined);
    await client.end().catch(() => undefined);
    await server.stop();
    rmSync(shared, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'bothub-cluster-daemon-'));
      // The first daemon makes the keys; the others start with copies of them.
      if (i > 0) for (const f of ['master.key', 'admin.key']) copyFileSync(join(daemons[0]!.dataDir, f), join(dataDir, f));
      logs.push(join(shared, `daemon-${i}.log`));
      daemons.push(
        await startDaemonProcess({
          dataDir,
          port: await freePort(),
          logFile: logs[i],
          env: {
            BOTHUB_DATABASE_URL: databaseUrl,
            BOTHUB_CONTROL_PLANE_ONLY: '1',
            BOTHUB_SNAPSHOTS_DIR: snapshotsDir,
            BOTHUB_LOG_LEVEL: 'info',
            ...(typeof env === 'function' ? env(i) : env),
          },
        }),
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const query = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => (await client.query<R>(text, values)).rows;
  const leader = async () => {
    const [row] = await query<{ holder: string }>(`select holder from leases where name = 'leader' and expires_at >= extract(epoch from clock_timestamp()) * 1000`);
    const pid = Number(row?.holder.split(':')[1]);
    return daemons.find((d) => d.pid() === pid);
  };
  return {
    daemons,
    databaseUrl,
    logs,
    leader,
    awaitLeader: (ms = 15_000) => until('a daemon to hold the leader lease', leader, ms),
    query,
    stop,
  };
}

/** A fleet host joins through one daemon; every daemon reaches it, its SSH key opening with the shared master key. */
export async function addHostThrough(d: DaemonProcess, name: string, host: TestSshHost): Promise<void> {
  const adding = d.api.call('addHost', { body: { name, ssh: `root@${host.address}`, privateKey: readFileSync(host.keyFile, 'utf8'), dataDir: host.dataDir } });
  // Installing the agent can outlast the client's wait for an answer on a loaded machine: the record says when it is done.
  await adding.catch((e: Error) => (/UND_ERR_HEADERS_TIMEOUT/.test(e.message) ? undefined : Promise.reject(e)));
  await until(`host ${name} to be added`, () => d.api.call('getHost', { params: { name } }).then((h) => (h.status === 'reachable' ? h : undefined)), 900_000);
}

/**
 * Whether a daemon's own log says it leads now: its last word on it was that it
 * became the leader. (A daemon starved of CPU for longer than its lease stands
 * down and may take the lease again: each time, it says so.)
 */
export const leadsByItsLog = (logFile: string): boolean => {
  const said = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('this daemon is the leader') || l.includes('this daemon is no longer the leader'));
  return said.at(-1)?.includes('this daemon is the leader') ?? false;
};
