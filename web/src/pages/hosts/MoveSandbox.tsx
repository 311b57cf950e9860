import { useState } from 'react';
import type { HostT, MoveResultT, ProgressEventT, SandboxT } from '../../../../src/api/schemas.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { Progress } from '../../components/Progress.js';
import { progress } from '../../lib/api.js';
import { useAction } from '../../lib/hooks.js';

/** Move a sandbox to another host, chosen among the ones that can take it now, with progress. */
export function MoveSandbox({ hosts, sandboxes, onMoved }: { hosts: HostT[]; sandboxes: SandboxT[]; onMoved: () => void }) {
  const [name, setName] = useState('');
  const [step, setStep] = useState<ProgressEventT>();
  const [done, setDone] = useState<MoveResultT>();
  const action = useAction();
  const chosen = sandboxes.find((s) => s.name === name);
  const move = (to: string) =>
    action.run(async () => {
      setDone(undefined);
      setDone(await progress<MoveResultT>('moveSandbox', { params: { name }, body: { to } }, setStep));
      setStep(undefined);
      onMoved();
    });
  const whyNot = (h: HostT) => (h.name === chosen?.host ? 'it is there now' : h.status !== 'reachable' ? `unreachable${h.statusReason ? `: ${h.statusReason}` : ''}` : undefined);
  return (
    <section aria-labelledby="move-title" className="card">
      <h2 id="move-title">Move a sandbox</h2>
      <label>
        Sandbox
        <select value={name} onChange={(e) => setName(e.target.value)}>
          <option value="">choose one</option>
          {sandboxes.map((s) => (
            <option key={s.id} value={s.name}>
              {s.name} (on {s.host})
            </option>
          ))}
        </select>
      </label>
      {chosen && (
        <ul className="verdicts" aria-label={`Hosts to move ${name} to`}>
          {hosts.map((h) => {
            const why = whyNot(h);
            return (
              <li key={h.name} className={why ? 'verdict greyed' : 'verdict ok'} aria-disabled={!!why}>
                <div className="row wrap">
                  <strong>{h.name}</strong>
                  {why && <span className="muted">{why}</span>}
                  <button type="button" disabled={!!why || action.busy} onClick={() => void move(h.name)} aria-label={`Move here: ${name} to ${h.name}`}>
                    Move here
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <Progress p={step} />
      <ErrorNote error={action.error} />
      {done && (
        <p role="status">
          Moved {done.sandbox.name} from {done.from} to {done.to} in {(done.totalMs / 1000).toFixed(1)} s.
        </p>
      )}
    </section>
  );
}
