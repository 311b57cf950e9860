import { BothubError } from '../core/index.js';

/** A step of a snapshot or restore failed; says which, so a user knows where it stopped. */
export class StepError extends BothubError {
  constructor(
    readonly step: string,
    message: string,
    cause?: unknown,
  ) {
    // A tool's words (CRIU, tar), or a file call's ENOSPC (the Host's message says it its own way).
    const full = /no space left/i.test(message) || (cause as { code?: unknown } | undefined)?.code === 'ENOSPC';
    super(
      full ? 'LIMIT_EXCEEDED' : 'RUNTIME_FAILED',
      full ? `${step} failed: the disk holding snapshots is full; free space there (or point BOTHUB_SNAPSHOTS_DIR elsewhere) and try again` : `${step} failed: ${message}`,
      { cause },
    );
  }
}
