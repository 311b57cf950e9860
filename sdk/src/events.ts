import { setTimeout as sleep } from 'node:timers/promises';
import type { EventT } from './generated/schemas.js';
import type { Transport } from './transport.js';

export interface EventsOptions {
  /** Only this sandbox's events. */
  sandbox?: string;
  /** Start after this event id; 0: from the oldest kept; default: only events from now on. */
  after?: number;
  /** Ends the iteration (no error); `break` does too. */
  signal?: AbortSignal;
  /** How often to ask for new events (polling source), ms. */
  intervalMs?: number;
}

/** Where events come from: the list route polled today; a live socket can take its place behind this type. */
export type EventSource = (transport: Transport, opts: EventsOptions) => AsyncIterable<EventT>;

const FIRST_BATCH = 100;
const MAX_BATCH = 10_000; // EventsQuery.limit's maximum

/**
 * Events by polling `GET /events` (the newest N, oldest first) and keeping
 * those after the last id seen. When a whole batch is new, more may have
 * happened than it held: ask again with a larger one, so none is skipped
 * (up to the route's maximum per interval).
 */
export const pollEvents: EventSource = async function* (transport, opts) {
  const interval = opts.intervalMs ?? 1000;
  const list = (limit: number) => transport.call('listEvents', { query: { sandbox: opts.sandbox, limit } }, { signal: opts.signal });
  const ended = () => !!opts.signal?.aborted;
  try {
    let after = opts.after ?? (await list(1)).at(-1)?.id ?? 0;
    while (!ended()) {
      let batch = FIRST_BATCH;
      let events = await list(batch);
      while (events.length === batch && (events[0]?.id ?? 0) > after && batch < MAX_BATCH) events = await list((batch = Math.min(batch * 10, MAX_BATCH)));
      for (const e of events) {
        if (e.id <= after) continue;
        after = e.id;
        yield e;
      }
      await sleep(interval, undefined, { signal: opts.signal });
    }
  } catch (e) {
    if (!ended()) throw e;
  }
};
