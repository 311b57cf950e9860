import os from 'node:os';

/** Percentiles of a sample, nearest-rank. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

export function row(label: string, samples: number[], target?: string): string {
  const f = (n: number) => `${n.toFixed(1)} ms`.padStart(10);
  return `${label.padEnd(28)} ${f(percentile(samples, 50))} ${f(percentile(samples, 99))}   n=${String(samples.length).padEnd(4)} ${target ?? ''}`;
}

/** One operation measured for two systems in the same run: each one's p50 and p99, and ours over theirs. */
export function compareRow(label: string, ours: number[], theirs: number[], target?: string): string {
  const f = (n: number) => `${n.toFixed(1)} ms`.padStart(10);
  const p50 = (s: number[]) => percentile(s, 50);
  const p99 = (s: number[]) => percentile(s, 99);
  const ratio = `${(p50(ours) / p50(theirs)).toFixed(2)}×`.padStart(7);
  return `${label.padEnd(24)} ${f(p50(ours))} ${f(p99(ours))} ${f(p50(theirs))} ${f(p99(theirs))} ${ratio}   n=${String(ours.length).padEnd(4)} ${target ?? ''}`;
}

export const compareHeader = (ours: string, theirs: string) =>
  `${'operation'.padEnd(24)} ${`${ours} p50`.padStart(10)} ${`${ours} p99`.padStart(10)} ${`${theirs} p50`.padStart(10)} ${`${theirs} p99`.padStart(10)} ${'ratio'.padStart(7)}`;

/** The machine a figure was measured on: CPU model and count, memory, kernel. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length}× ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`;
}

/** The load average now (1, 5, 15 min): on a shared machine, what the figures beside it were measured under. */
export const loadNow = () => `load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;
