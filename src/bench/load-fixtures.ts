import { join } from 'node:path';
import type { Db } from '../daemon/db/database.js';
import type { HostRow } from '../daemon/db/tables.js';
import { Sealer } from '../daemon/security/master-key.js';
import { newSandboxRow } from '../daemon/services/sandbox-records.js';
import type { HostFingerprint } from '../core/index.js';

/**
 * What the load test puts in the shared database before any request: hosts
 * that stand for rented machines (records only: nothing answers SSH there)
 * and sandbox records spread over them, as a busy team's control plane holds.
 */
export async function insertFixtures(db: Db, opts: { dataDir: string; hosts: number; sandboxes: number; ownerId: string; fingerprint: HostFingerprint }): Promise<{ hosts: string[]; sandboxes: string[] }> {
  // Sealed with the daemons' master key, as `bothub host add` would: every daemon opens them.
  const sealer = await Sealer.load(join(opts.dataDir, 'master.key'), '');
  const now = new Date().toISOString();
  const hosts = Array.from({ length: opts.hosts }, (_, i) => `load-${String(i).padStart(3, '0')}`);
  const hostRows: HostRow[] = hosts.map((name, i) => ({
    name,
    address: `192.0.2.${i % 250}`, // TEST-NET-1: never routed
    port: 22,
    username: 'root',
    key_sealed: sealer.seal('not a key: the load test never connects', `host:${name}`),
    host_key: 'SHA256:load-test',
    fingerprint_json: JSON.stringify(opts.fingerprint),
    status: 'reachable',
    status_reason: null,
    last_seen_at: now,
    created_at: now,
    data_dir: '/var/lib/bothub',
    agent_key_sealed: null,
  }));
  for (let i = 0; i < hostRows.length; i += 100) await db.insertInto('hosts').values(hostRows.slice(i, i + 100)).execute();
  const sandboxes = Array.from({ length: opts.sandboxes }, (_, i) => `load-sb-${String(i).padStart(4, '0')}`);
  const rows = sandboxes.map((name, i) => ({
    ...newSandboxRow({
      name,
      image: 'debian',
      cpus: null,
      memoryMb: 256,
      pidsLimit: 512,
      network: 'default',
      command: [],
      env: {},
      secrets: [],
      ownerId: opts.ownerId,
      idleWarmMs: null,
      idleColdMs: null,
      keepHot: false,
      host: hosts[i % hosts.length]!,
      gpus: 0,
      diskMb: null,
    }),
    status: 'running' as const,
    started_at: now,
    // An address, as a created sandbox on the default network has: publish refuses a sandbox without one.
    address: `10.77.${Math.floor(i / 250)}.${(i % 250) + 2}`,
  }));
  for (let i = 0; i < rows.length; i += 100) await db.insertInto('sandboxes').values(rows.slice(i, i + 100)).execute();
  return { hosts, sandboxes };
}

/**
 * The hosts' heartbeats. The leader pulls them over SSH; what a round writes
 * for a host that answered is its status and last-seen time, and the agent's
 * report of each of its sandboxes mirrored into their records. Written here
 * directly, every host once per `everyMs`, spread evenly.
 */
export function simulateHeartbeats(db: Db, hosts: string[], everyMs: number, onError: (e: unknown) => void): () => Promise<void> {
  let i = 0;
  let inFlight = Promise.resolve();
  const timer = setInterval(
    () => {
      const host = hosts[i++ % hosts.length]!;
      const now = new Date().toISOString();
      inFlight = db
        .transaction()
        .execute(async (tx) => {
          await tx.updateTable('hosts').set({ status: 'reachable', status_reason: null, last_seen_at: now }).where('name', '=', host).execute();
          await tx.updateTable('sandboxes').set({ last_active_at: now, updated_at: now }).where('host', '=', host).where('status', '=', 'running').execute();
        })
        .catch(onError);
    },
    Math.max(1, Math.floor(everyMs / hosts.length)),
  );
  return async () => {
    clearInterval(timer);
    await inFlight;
  };
}
