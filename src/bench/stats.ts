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
