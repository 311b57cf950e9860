import { invalid } from './errors.js';

/** What one sandbox may ask for; the daemon fills in what the host has. */
export interface HostCapacity {
  cpus: number;
  memoryMb: number;
}

export const MIN_MEMORY_MB = 16;
export const DEFAULT_PIDS_LIMIT = 1024;

export function validateCpus(cpus: number, host: HostCapacity): number {
  if (!Number.isFinite(cpus) || cpus <= 0) throw invalid(`invalid \`cpus\` ${cpus}: give a positive number such as 0.5 or 2`);
  if (cpus > host.cpus) throw invalid(`\`cpus\` ${cpus} is more than this host has (${host.cpus}); ask for at most ${host.cpus}`);
  return Math.round(cpus * 100) / 100;
}

export function validateMemoryMb(memoryMb: number, host: HostCapacity): number {
  if (!Number.isInteger(memoryMb) || memoryMb < MIN_MEMORY_MB) {
    throw invalid(`invalid \`memoryMb\` ${memoryMb}: give whole megabytes, at least ${MIN_MEMORY_MB}`);
  }
  if (memoryMb > host.memoryMb) {
    throw invalid(`\`memoryMb\` ${memoryMb} is more than this host has (${host.memoryMb} MB); ask for less`);
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

/** The smallest writable layer: ext4's own metadata (journal, inode tables) needs room too. */
export const MIN_DISK_MB = 32;
/** 16 TiB: far beyond any host, small enough to stay an exact integer everywhere. */
export const MAX_DISK_MB = 16 * 1024 * 1024;

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i;
const UNIT_MB: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/**
 * Parses a size such as "512M", "2G", "1.5G" or "64MiB" into whole megabytes
 * (binary units; a bare number is megabytes, as memory is). `flag` names
 * where it came from, for the error.
 */
export function parseSizeMb(text: string, flag = 'size'): number {
  const m = SIZE_RE.exec(text.trim());
  if (!m) throw invalid(`invalid ${flag} "${text}": give a size such as 512M, 2G or 1T (a bare number is megabytes)`);
  return Math.ceil(Number(m[1]) * UNIT_MB[(m[2] || 'M').toUpperCase()]!);
}

/** A writable layer's size limit in MB; `name` is what the error calls it (the API's field, the CLI's flag, a setting). */
export function validateDiskMb(diskMb: number, name = '`diskMb`'): number {
  if (!Number.isInteger(diskMb) || diskMb < MIN_DISK_MB || diskMb > MAX_DISK_MB)
    throw invalid(`invalid ${name} ${formatMb(diskMb)}: give at least ${MIN_DISK_MB}M and at most ${formatMb(MAX_DISK_MB)}`);
  return diskMb;
}

/** "512M", "2G": how sizes are shown back. */
export function formatMb(mb: number): string {
  if (mb >= 1024 * 1024 && mb % (1024 * 1024) === 0) return `${mb / 1024 / 1024}T`;
  if (mb >= 1024 && mb % 1024 === 0) return `${mb / 1024}G`;
  return `${mb}M`;
}
