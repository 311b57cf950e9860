import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { LeaderElection, type LeaderDuties, type LeaderTiming } from './leader.js';
import { daemonId, Leases } from './leases.js';
import { SandboxLock, sandboxLease } from './sandbox-lock.js';

/** What the daemon needs of the cluster: the sandboxes' lock, and who runs the timers. */
export interface Cluster {
  /** Several daemons on one database (BOTHUB_CONTROL_PLANE_ONLY); false: this daemon alone, as before. */
  readonly shared: boolean;
  readonly lock: SandboxLock;
  /** Whether another daemon is acting on this sandbox now (its lease is held by someone else). */
  busyElsewhere(sandboxId: string): Promise<boolean>;
  /** Starts the duties once this daemon leads (at once when alone); resolves after the first attempt. */
  lead(duties: LeaderDuties): Promise<void>;
  /** Stops leading (the lease given up for the next leader). */
  stop(): Promise<void>;
}

export function wireCluster(deps: { db: Db; shared: boolean; log: Logger; timing?: LeaderTiming }): Cluster {
  const leases = deps.shared ? new Leases(deps.db, daemonId()) : undefined;
  const lock = new SandboxLock(leases, deps.log);
  let election: LeaderElection | undefined;
  return {
    shared: deps.shared,
    lock,
    async busyElsewhere(id) {
      const holder = await leases?.holderOf(sandboxLease(id));
      return holder !== undefined && holder !== leases!.holder;
    },
    async lead(duties) {
      if (!leases) return duties.lead();
      election = new LeaderElection(leases, duties, deps.log.child({ daemon: leases.holder }), deps.timing);
      await election.start();
    },
    async stop() {
      await election?.stop();
    },
  };
}
