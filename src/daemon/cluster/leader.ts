import type { Logger } from 'pino';
import type { Leases } from './leases.js';

export const LEADER_LEASE = 'leader';

export interface LeaderTiming {
  /** How often the leader renews and the others try to take the lease, ms. */
  tickMs: number;
  /** How long a lease lasts unrenewed, ms: a killed leader's successor takes over at most ttlMs + tickMs later. */
  ttlMs: number;
}

/** Renewed each second, lasting 8: a leader killed with -9 has a successor within 9 s. */
export const DEFAULT_LEADER_TIMING: LeaderTiming = { tickMs: 1000, ttlMs: 8000 };

/** What only the leader does (the timers), started when it becomes leader and stopped the moment it is not. */
export interface LeaderDuties {
  lead(): void;
  /** Stops the timers at once (synchronously); what a round in flight finishes is awaited by the daemon's close. */
  yieldLead(): void;
}

/**
 * One leader among the daemons on one database, elected through a lease
 * row. Every daemon tries to take the lease each tick; the holder's attempt
 * is its renewal. A leader whose renewal fails, or does not come back before
 * the lease would expire (the database unreachable, the process stalled),
 * stops its duties before anyone else can take over; so two leaders never
 * run timers at once, as long as the daemons' pauses stay under a second.
 */
export class LeaderElection {
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private leading = false;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly leases: Leases,
    private readonly duties: LeaderDuties,
    private readonly log: Logger,
    private readonly timing: LeaderTiming = DEFAULT_LEADER_TIMING,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Tries at once (so a lone daemon leads from its start), then every tick. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.timing.tickMs);
    this.timer.unref();
  }

  /** Stops trying and gives the lease up, so another daemon takes over without waiting for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.round;
    const was = this.leading;
    this.step('the daemon is stopping');
    if (was) await this.leases.release(LEADER_LEASE).catch((err: unknown) => this.log.warn({ err }, 'could not give the leader lease up; it expires by itself'));
  }

  private tick(): Promise<void> {
    // One attempt at a time: a slow database must not pile them up.
    return (this.round ??= this.attempt().finally(() => (this.round = undefined)));
  }

  private async attempt(): Promise<void> {
    // The lease is counted from before the statement: its expiry here is never later than in the database.
    const sent = Date.now();
    const held = await this.leases.take(LEADER_LEASE, this.timing.ttlMs).catch((err: unknown) => {
      this.log.warn({ err }, 'could not reach the database to renew or take the leader lease');
      return false;
    });
    if (this.stopped) return;
    if (!held) return this.step('another daemon holds the leader lease');
    // Stand down a tick before the lease would lapse unless a renewal comes first.
    clearTimeout(this.watchdog);
    const left = sent + this.timing.ttlMs - this.timing.tickMs - Date.now();
    if (left <= 0) return this.step('renewing the leader lease took too long');
    this.watchdog = setTimeout(() => this.step('the leader lease was not renewed in time'), left);
    this.watchdog.unref();
    if (this.leading) return;
    this.leading = true;
    this.log.info({ holder: this.leases.holder }, 'this daemon is the leader: it runs the timers');
    this.duties.lead();
  }

  private step(why: string): void {
    clearTimeout(this.watchdog);
    if (!this.leading) return;
    this.leading = false;
    this.log.warn({ holder: this.leases.holder, why }, 'this daemon is no longer the leader: its timers stop');
    this.duties.yieldLead();
  }
}
