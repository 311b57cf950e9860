import type { Logger } from 'pino';
import type { SandboxRow } from '../db/tables.js';
import type { EventLog } from './event-log.js';
import { LOCAL } from './sandbox-service.js';

/**
 * What a change of a sandbox's record means in the event log, so a fleet view
 * can stay current from events alone: created, destroyed, moved (host), a new
 * status, and a fleet host's sandbox going warm or cold (local ones are
 * recorded by the thermal service itself). A failure to record is logged,
 * never the operation's failure.
 */
export function recordSandboxChange(events: EventLog, log: Logger) {
  return async (before: SandboxRow | undefined, after: SandboxRow | undefined): Promise<void> => {
    try {
      if (!before && after) await events.record(after, 'created', `on host ${after.host}`);
      else if (before && !after) await events.record(before, 'destroyed');
      else if (before && after) {
        if (before.host !== after.host) await events.record(after, 'moved', `from ${before.host} to ${after.host}`);
        if (before.status !== after.status) await events.record(after, after.status, after.status_reason);
        if (after.host !== LOCAL && before.thermal !== after.thermal) await events.record(after, after.thermal === 'hot' ? 'woke' : after.thermal, `on host ${after.host}`);
      }
    } catch (err) {
      log.error({ err, sandbox: (after ?? before)?.name }, 'recording a sandbox event failed');
    }
  };
}
