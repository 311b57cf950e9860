import { invalid } from './errors.js';

/** What one sandbox may ask for; the daemon fills in what the host has. */
export interface HostCapacity {
  cpus: number;
  memoryMb: number;
}

export const MIN_MEMORY_MB = 16;
export const DEFAULT_PIDS_LIMIT = 1024;

export function validateCpus(cpus: number, host: HostCapacity): number {
  if (!Number.isFinite(cpus) || cpus <= 0) throw invalid(`invalid --cpus ${cpus}: give a positive number such as 0.5 or 2`);
  if (cpus > host.cpus) throw invalid(`--cpus ${cpus} is more than this host has (${host.cpus}); ask for at most ${host.cpus}`);
  return Math.round(cpus * 100) / 100;
}

export function validateMemoryMb(memoryMb: number, host: HostCapacity): number {
  if (!Number.isInteger(memoryMb) || memoryMb < MIN_MEMORY_MB) {
    throw invalid(`invalid --memory ${memoryMb}: give whole megabytes, at least ${MIN_MEMORY_MB}`);
  }
  if (memoryMb > host.memoryMb) {
    throw invalid(`--memory ${memoryMb} MB is more than this host has (${host.memoryMb} MB); ask for less`);
  }
  return memoryMb;
}

const DURATION_RE = /^(\d+)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "30s", "5m", "1h", "0" into milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text.trim());
  if (!m) throw invalid(`invalid duration "${text}": use a number with a unit, such as 30s, 5m or 1h (0 disables)`);
  return Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
}

/** Parses KEY=VALUE pairs as given on the command line or in a request. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw invalid(`invalid environment variable "${pair}": use KEY=VALUE`);
    env[key] = pair.slice(eq + 1);
  }
  return env;
}
