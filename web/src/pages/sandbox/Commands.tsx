import { useState, type FormEvent } from 'react';
import type { ExecRecordT } from '../../../../src/api/schemas.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { LogView } from '../../components/LogView.js';
import { Table } from '../../components/Table.js';
import { call, routeUrl } from '../../lib/api.js';
import { useFollowLog } from '../../lib/follow-log.js';
import { time } from '../../lib/format.js';
import { useAction, useLoad } from '../../lib/hooks.js';
import { sandboxHref } from '../../lib/router.js';

/** The exec ledger (who ran what, when, how it ended) with each command's output; background commands. */
export function Commands({ name, selected }: { name: string; selected?: string }) {
  const execs = useLoad((signal) => call('listExecs', { params: { name }, signal }), [name]);
  const [command, setCommand] = useState('');
  const action = useAction();
  const start = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const rec = await call('startExec', { params: { name }, body: { command: ['sh', '-c', command] } });
      setCommand('');
      execs.reload();
      location.hash = sandboxHref(name, 'commands', rec.id);
    });
  };
  const chosen = execs.data?.find((x) => x.id === selected);
  return (
    <>
      <form onSubmit={start} className="row wrap" aria-label="Run in the background">
        <label className="grow">
          Background command (sh -c)
          <input value={command} onChange={(e) => setCommand(e.target.value)} placeholder="python3 -m http.server 8000" required />
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          Run in background
        </button>
        <button type="button" onClick={execs.reload}>
          Refresh
        </button>
      </form>
      <ErrorNote error={action.error ?? execs.error} />
      <Table caption={<>Every command run in {name}, newest first</>} columns={['ID', 'Command', 'Who', 'Started', 'Ended', 'Status', 'Exit', 'Output']}>
        {(execs.data ?? [])
          .slice()
          .reverse()
          .map((x) => (
            <ExecRow key={x.id} x={x} name={name} selected={x.id === selected} onChanged={execs.reload} />
          ))}
      </Table>
      {chosen && <ExecOutput key={chosen.id} name={name} x={chosen} />}
    </>
  );
}

/** Terminate asks (an interactive shell ignores it); Kill does not. */
const SIGNALS = [
  ['Terminate', 'TERM', 'SIGTERM goes to its process group: it may clean up and exit. An interactive shell ignores it.'],
  ['Kill', 'KILL', 'SIGKILL goes to its process group: it ends at once, without cleaning up.'],
] as const;

function ExecRow({ x, name, selected, onChanged }: { x: ExecRecordT; name: string; selected: boolean; onChanged: () => void }) {
  return (
    <tr aria-selected={selected} data-exec={x.id}>
      <td>
        <code>{x.id}</code>
      </td>
      <td className="cmd">
        <code>{x.command.join(' ')}</code>
        {x.tty && <span className="badge">tty</span>}
        {x.detached && <span className="badge">background</span>}
      </td>
      <td>{x.actor}</td>
      <td>{time(x.startedAt)}</td>
      <td>{time(x.endedAt)}</td>
      <td>{x.status}</td>
      <td>{x.exitCode ?? '—'}</td>
      <td className="row">
        <a href={sandboxHref(name, 'commands', x.id)} aria-label={`Output of ${x.id}`}>
          Output
        </a>
        {x.status === 'running' && x.tty && (
          <a href={sandboxHref(name, 'terminal', x.id)} aria-label={`Attach to ${x.id}`}>
            Attach
          </a>
        )}
        {x.status === 'running' &&
          SIGNALS.map(([label, signal, warning]) => (
            <ConfirmButton
              key={signal}
              label={label}
              ariaLabel={`${label} ${x.id}`}
              title={`${label} command ${x.id}?`}
              warning={warning}
              danger
              onConfirm={async () => {
                await call('killExec', { params: { name, id: x.id }, body: { signal } });
                onChanged();
              }}
            />
          ))}
      </td>
    </tr>
  );
}

function ExecOutput({ name, x }: { name: string; x: ExecRecordT }) {
  const running = x.status === 'running';
  const log = useFollowLog((offset, follow) => routeUrl('execLogs', { name, id: x.id }, { offset, follow: follow || undefined }), running, `${name}/${x.id}`);
  return (
    <section aria-label={`Output of ${x.id}`}>
      <h2>
        Output of <code>{x.id}</code>
      </h2>
      <LogView log={log} label={`Output of ${x.id}`} />
    </section>
  );
}
