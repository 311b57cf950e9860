import type { ProgressEventT } from '../../../src/api/schemas.js';

/** The last progress line of a long operation (snapshot, restore, move). */
export function Progress({ p }: { p: ProgressEventT | undefined }) {
  if (!p) return null;
  const pct = p.total ? Math.min(100, Math.round(((p.done ?? 0) / p.total) * 100)) : undefined;
  return (
    <div className="progress" role="status" aria-live="polite">
      <span>
        {p.step}
        {p.message ? `: ${p.message}` : ''}
      </span>
      {pct !== undefined && <progress max={100} value={pct} aria-label={`${p.step} ${pct}%`} />}
    </div>
  );
}
