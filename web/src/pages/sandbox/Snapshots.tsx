import { useState, type FormEvent } from 'react';
import type { ProgressEventT, SandboxT, SnapshotT } from '../../../../src/api/schemas.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { Progress } from '../../components/Progress.js';
import { Table } from '../../components/Table.js';
import { call, progress } from '../../lib/api.js';
import { bytes, time } from '../../lib/format.js';
import { useAction, useLoad } from '../../lib/hooks.js';
import { sandboxHref } from '../../lib/router.js';

/** Snapshots of a sandbox: create (with progress), restore, branch into a new sandbox, delete. */
export function Snapshots({ sandbox, onChanged }: { sandbox: SandboxT; onChanged: () => void }) {
  const name = sandbox.name;
  const snaps = useLoad((signal) => call('listSnapshots', { query: { sandbox: name }, signal }), [name]);
  const [snapName, setSnapName] = useState('');
  const [leaveRunning, setLeaveRunning] = useState(true);
  const [step, setStep] = useState<ProgressEventT>();
  const action = useAction();
  const create = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      await progress<SnapshotT>('createSnapshot', { params: { name }, body: { name: snapName, leaveRunning } }, setStep);
      setStep(undefined);
      setSnapName('');
      snaps.reload();
      onChanged();
    });
  };
  return (
    <>
      <form onSubmit={create} className="row wrap" aria-label="New snapshot">
        <label>
          Snapshot name
          <input value={snapName} onChange={(e) => setSnapName(e.target.value)} required pattern="[a-z0-9]([a-z0-9\-]{0,46}[a-z0-9])?" />
        </label>
        <label className="check">
          <input type="checkbox" checked={leaveRunning} onChange={(e) => setLeaveRunning(e.target.checked)} /> Leave running
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Working…' : 'Take snapshot'}
        </button>
      </form>
      <Progress p={step} />
      <ErrorNote error={action.error ?? snaps.error} />
      <Table caption={<>Snapshots of {name}</>} columns={['Name', 'Size', 'Taken', 'Frozen for', 'Actions']}>
        {(snaps.data ?? []).map((s) => (
          <SnapshotRow key={s.id} s={s} onChanged={() => (snaps.reload(), onChanged())} />
        ))}
      </Table>
    </>
  );
}

function SnapshotRow({ s, onChanged }: { s: SnapshotT; onChanged: () => void }) {
  const [branch, setBranch] = useState('');
  const [step, setStep] = useState<ProgressEventT>();
  const action = useAction();
  const restore = (as?: string) =>
    progress<SandboxT>('restoreSnapshot', { params: { name: s.name }, body: as ? { name: as } : {} }, setStep).then((sb) => {
      setStep(undefined);
      onChanged();
      return sb;
    });
  return (
    <tr data-snapshot={s.name}>
      <td>
        {s.name}
        {s.encrypted && <span className="badge">encrypted</span>}
      </td>
      <td>{bytes(s.sizeBytes)}</td>
      <td>{time(s.createdAt)}</td>
      <td>{s.frozenMs !== undefined ? `${Math.round(s.frozenMs)} ms` : '—'}</td>
      <td>
        <div className="row wrap">
          <ConfirmButton
            label="Restore"
            ariaLabel={`Restore ${s.name}`}
            title={`Restore ${s.sandbox} from ${s.name}?`}
            warning={`${s.sandbox} goes back to the state it had when ${s.name} was taken; what it did since is lost.`}
            onConfirm={() => restore()}
          />
          <form
            className="row"
            aria-label={`Branch ${s.name}`}
            onSubmit={(e) => {
              e.preventDefault();
              void action.run(async () => {
                const sb = await restore(branch);
                location.hash = sandboxHref(sb.name);
              });
            }}
          >
            <input aria-label={`Name of the branch of ${s.name}`} placeholder="new sandbox name" value={branch} onChange={(e) => setBranch(e.target.value)} required />
            <button type="submit" disabled={action.busy}>
              Branch
            </button>
          </form>
          <a href={`#/hosts/${encodeURIComponent(s.name)}`}>Where can it run?</a>
          <ConfirmButton
            label="Delete"
            ariaLabel={`Delete ${s.name}`}
            title={`Delete snapshot ${s.name}?`}
            warning="Its files are removed; this cannot be undone."
            danger
            onConfirm={async () => {
              await call('deleteSnapshot', { params: { name: s.name } });
              onChanged();
            }}
          />
        </div>
        <Progress p={step} />
        <ErrorNote error={action.error} />
      </td>
    </tr>
  );
}
