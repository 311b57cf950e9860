import { useState } from 'react';
import type { ProgressEventT, SandboxT } from '../../../../src/api/schemas.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { Progress } from '../../components/Progress.js';
import { call, progress } from '../../lib/api.js';
import { useAction, useLoad } from '../../lib/hooks.js';
import { sandboxHref } from '../../lib/router.js';

/** For a chosen snapshot: every host, able to take it, or greyed out with every reason the gate gives. */
export function SnapshotGate({ initial }: { initial?: string }) {
  const snapshots = useLoad((signal) => call('listSnapshots', { signal }), []);
  const [chosen, setChosen] = useState(initial ?? '');
  const verdicts = useLoad((signal) => (chosen ? call('snapshotHosts', { params: { name: chosen }, signal }) : Promise.resolve([])), [chosen]);
  const [branch, setBranch] = useState('');
  const [step, setStep] = useState<ProgressEventT>();
  const action = useAction();
  const restoreOn = (host: string) =>
    action.run(async () => {
      const sb = await progress<SandboxT>('restoreSnapshot', { params: { name: chosen }, body: { host, ...(branch ? { name: branch } : {}) } }, setStep);
      setStep(undefined);
      location.hash = sandboxHref(sb.name);
    });
  return (
    <section aria-labelledby="gate-title" className="card">
      <h2 id="gate-title">Where can a snapshot run?</h2>
      <div className="row wrap">
        <label>
          Snapshot
          <select value={chosen} onChange={(e) => setChosen(e.target.value)}>
            <option value="">choose one</option>
            {(snapshots.data ?? []).map((s) => (
              <option key={s.id} value={s.name}>
                {s.name} (of {s.sandbox})
              </option>
            ))}
          </select>
        </label>
        <label>
          Branch as (empty: restore its own sandbox)
          <input value={branch} onChange={(e) => setBranch(e.target.value)} placeholder="new sandbox name" />
        </label>
      </div>
      <ErrorNote error={snapshots.error ?? verdicts.error ?? action.error} />
      <Progress p={step} />
      {chosen && (
        <ul className="verdicts" aria-label={`Hosts for ${chosen}`}>
          {(verdicts.data ?? []).map((v) => (
            <li key={v.host} className={v.compatible ? 'verdict ok' : 'verdict greyed'} aria-disabled={!v.compatible} data-host={v.host}>
              <div className="row wrap">
                <strong>{v.host}</strong>
                <span className="badge">{v.compatible ? '✓ can take it' : '✕ cannot take it'}</span>
                <span className="muted">{v.status}</span>
                <button type="button" disabled={!v.compatible || action.busy} onClick={() => void restoreOn(v.host)} aria-label={`Restore here: ${chosen} on ${v.host}`}>
                  Restore here
                </button>
              </div>
              {v.reasons.length > 0 && (
                <ul className="reasons">
                  {v.reasons.map((r) => (
                    <li key={r}>{r}</li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
