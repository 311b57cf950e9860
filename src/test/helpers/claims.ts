import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { processExists } from './processes.js';

/**
 * Numbers that test processes running side by side (scripts/run-tests.mjs
 * runs files in lanes) must not share: a test daemon's subnet, a fleet
 * host's address. A claim is a file named by the number holding its owner's
 * PID, made by a hard link (atomic, and whole when it appears); one whose
 * owner is dead (a file killed by its timeout) is taken over.
 */
const DIR = '/run/bothub-test-claims';
const held = new Set<string>();
process.once('exit', () => {
  for (const file of held) rmSync(file, { force: true });
});

export interface Claim {
  n: number;
  release(): void;
}

/** A number in [0, size) no other live process holds under `kind`; let go by `release()` or when this process exits. */
export function claimNumber(kind: string, size: number): Claim {
  mkdirSync(DIR, { recursive: true });
  const mine = join(DIR, `.${kind}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeWhole(mine, String(process.pid));
  try {
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const n = (start + i) % size;
      const file = join(DIR, `${kind}-${n}`);
      if (!take(file, mine)) continue;
      held.add(file);
      return {
        n,
        release: () => {
          if (held.delete(file)) rmSync(file, { force: true });
        },
      };
    }
  } finally {
    rmSync(mine, { force: true });
  }
  throw new Error(`every ${kind} number is claimed by a running test (see ${DIR}); wait for those runs to end`);
}

/** A test daemon's subnet: 10.100.0.0 to 10.197.255.0, /24 each (10.198 is the fleet hosts'). */
export function claimSubnet(): Claim & { subnet: string } {
  const claim = claimNumber('subnet', 98 * 250);
  return { ...claim, subnet: `10.${100 + Math.floor(claim.n / 250)}.${claim.n % 250}.0/24` };
}

function take(file: string, mine: string): boolean {
  try {
    linkSync(mine, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (processExists(Number(readOr(file)))) return false;
  // Its owner is gone. One process at a time takes it over: whoever makes the `.taking` link.
  const taking = `${file}.taking`;
  try {
    linkSync(mine, taking);
  } catch {
    return false;
  }
  try {
    if (processExists(Number(readOr(file)))) return false;
    renameSync(taking, file);
    return true;
  } finally {
    rmSync(taking, { force: true });
  }
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function writeWhole(file: string, text: string): void {
  const fd = openSync(file, 'wx', 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
