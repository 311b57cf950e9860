import { AbortedError, BothubError, TimeoutError, UnreachableError } from './errors.js';

/** What every call takes: the caller's signal, and a deadline in ms (0: none) replacing the client's default. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** AbortSignal.any (Node ≥ 20.3), with a fallback for the first Node 20 releases. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(signals);
  const ctl = new AbortController();
  for (const s of signals) {
    if (s.aborted) return AbortSignal.abort(s.reason);
    s.addEventListener('abort', () => ctl.abort(s.reason), { once: true });
  }
  return ctl.signal;
}

/**
 * One call's signal: the caller's signal and the deadline together, neither
 * replacing the other (E2B's buildRequestSignal), and the error to report
 * when it fires, naming which one did.
 */
export class Deadline {
  readonly signal: AbortSignal | undefined;
  private readonly timeout: AbortSignal | undefined;

  constructor(
    private readonly caller: AbortSignal | undefined,
    readonly timeoutMs: number,
  ) {
    this.timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [caller, this.timeout].filter((s): s is AbortSignal => !!s);
    this.signal = signals.length > 1 ? anySignal(signals) : signals[0];
  }

  static of(opts: CallOptions | undefined, defaultMs: number): Deadline {
    return new Deadline(opts?.signal, opts?.timeoutMs ?? defaultMs);
  }

  /** Throws the abort or timeout error now if either already fired. */
  check(): void {
    const e = this.fired();
    if (e) throw e;
  }

  /** The abort or timeout error, once either fired. */
  fired(): BothubError | undefined {
    if (this.caller?.aborted) return new AbortedError('ABORTED', 'cancelled by the caller’s AbortSignal', { cause: this.caller.reason });
    if (this.timeout?.aborted) return new TimeoutError('TIMED_OUT', `timed out after ${this.timeoutMs} ms; pass { timeoutMs } for a longer deadline (0: none)`);
    return undefined;
  }

  /** Any failure of the call as a BothubError: the abort or timeout that caused it, or the connection that failed. */
  error(e: unknown, baseUrl: string): BothubError {
    if (e instanceof BothubError) return e;
    const fired = this.fired();
    if (fired) return fired;
    const err = e as { message?: string; cause?: { code?: string; message?: string } };
    const cause = err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
    return new UnreachableError('UNAVAILABLE', `cannot reach the bothub daemon at ${baseUrl} (${cause}); check the url (BOTHUB_URL) and that the daemon runs`, { cause: e });
  }
}
