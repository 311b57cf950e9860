import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KeyedMutex } from '../services/keyed-mutex.js';
import type { Leases } from './leases.js';

/** A sandbox's lease lasts this long unrenewed: what a killed daemon held is free again within it. */
export const SANDBOX_LEASE_TTL_MS = 8000;
/** How often a waiting daemon looks again whether the sandbox is free (a little jitter keeps waiters apart). */
const RETRY_MS = 100;

export const sandboxLease = (id: string): string => `sandbox:${id}`;

/**
 * The lock every operation that changes a sandbox takes, across daemons: the
 * in-process mutex first (operations of this daemon queue here, as with one
 * daemon), then the sandbox's lease in the database, so an operation of
 * another daemon on the same sandbox waits for this one to end. The lease is
 * renewed while the operation runs; a daemon killed mid-operation renews
 * nothing, and its lease expires. Without leases (one daemon on SQLite) it
 * is the mutex alone, as before.
 */
export class SandboxLock extends KeyedMutex {
  constructor(
    private readonly leases: Leases | undefined,
    private readonly log: Logger,
    private readonly ttlMs = SANDBOX_LEASE_TTL_MS,
  ) {
    super();
  }

  override run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const leases = this.leases;
    if (!leases) return super.run(key, work);
    return super.run(key, () => this.leased(leases, key, work));
  }

  /** Ids of the sandboxes some daemon is acting on now (this one's included). */
  async heldAnywhere(): Promise<Set<string>> {
    if (!this.leases) return new Set();
    return new Set((await this.leases.held('sandbox:')).map((l) => l.name.slice('sandbox:'.length)));
  }

  private async leased<T>(leases: Leases, id: string, work: () => Promise<T>): Promise<T> {
    const name = sandboxLease(id);
    let waited = false;
    while (!(await leases.take(name, this.ttlMs))) {
      if (!waited) this.log.debug({ sandbox: id, holder: await leases.holderOf(name) }, 'waiting for another daemon to finish with this sandbox');
      waited = true;
      await sleep(RETRY_MS + Math.floor(Math.random() * RETRY_MS));
    }
    const renewal = setInterval(() => {
      leases.take(name, this.ttlMs).then(
        (held) => held || this.log.error({ sandbox: id }, "this daemon lost a sandbox's lease mid-operation (it stalled past the lease); another daemon may act on it too"),
        (err: unknown) => this.log.warn({ err, sandbox: id }, "could not renew a sandbox's lease; it lasts until it expires"),
      );
    }, this.ttlMs / 4);
    renewal.unref();
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      await leases.release(name).catch((err: unknown) => this.log.warn({ err, sandbox: id }, "could not give a sandbox's lease back; it expires by itself"));
    }
  }
}
