import { BothubError } from './errors.js';

/** Linux signal numbers (x86-64 and arm64 agree on these). */
const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15, CONT: 18, STOP: 19, TSTP: 20, WINCH: 28 };

/** "TERM", "SIGTERM", "15" or 15 → 15; anything else is a clear error. */
export function parseSignal(s: string | number): number {
  if (typeof s === 'number' || /^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
  } else {
    const n = SIGNALS[s.toUpperCase().replace(/^SIG/, '')];
    if (n) return n;
  }
  throw new BothubError('INVALID_INPUT', `unknown signal "${s}"; use a number (1-64) or one of ${Object.keys(SIGNALS).join(', ')}`);
}
