import { lazy, Suspense, useCallback } from 'react';
import { ErrorNote } from '../components/ErrorNote.js';
import { SandboxActions } from '../components/SandboxActions.js';
import { StateBadge } from '../components/StateBadge.js';
import { call } from '../lib/api.js';
import { useEvents } from '../lib/events.js';
import { age, bytes, displayState } from '../lib/format.js';
import { useLoad } from '../lib/hooks.js';
import { sandboxHref } from '../lib/router.js';
import { Commands } from './sandbox/Commands.js';
import { ConsoleLog } from './sandbox/ConsoleLog.js';
import { Files } from './sandbox/Files.js';
import { Ports } from './sandbox/Ports.js';
import { Snapshots } from './sandbox/Snapshots.js';
import { Stats } from './sandbox/Stats.js';

const Terminal = lazy(() => import('./sandbox/Terminal.js').then((m) => ({ default: m.Terminal })));

const TABS = [
  ['terminal', 'Terminal'],
  ['log', 'Console log'],
  ['commands', 'Commands'],
  ['files', 'Files'],
  ['snapshots', 'Snapshots'],
  ['ports', 'Ports & shares'],
  ['stats', 'CPU & memory'],
] as const;

export function SandboxPage({ name, tab, arg }: { name: string; tab: string; arg?: string }) {
  const sb = useLoad((signal) => call('getSandbox', { params: { name }, signal }), [name]);
  const { reload } = sb;
  useEvents(
    useCallback(() => reload(), [reload]),
    name,
  );
  const s = sb.data;
  if (!s) return sb.error ? <ErrorNote error={sb.error} /> : <p className="loading">Loading…</p>;
  const state = displayState(s);
  return (
    <>
      <p className="crumbs">
        <a href="#/">Fleet</a> / {s.name}
      </p>
      <div className="page-head">
        <h1>{s.name}</h1>
        <StateBadge state={state} />
        <SandboxActions s={s} onChanged={(n) => (n ? sb.setData(() => n) : (location.hash = '#/'))} />
      </div>
      {s.statusReason && <p className="reason">{s.statusReason}</p>}
      <dl className="facts wide">
        <dt>Host</dt>
        <dd>{s.host}</dd>
        <dt>Image</dt>
        <dd>{s.image}</dd>
        <dt>Address</dt>
        <dd>{s.address ?? '—'}</dd>
        <dt>Age</dt>
        <dd title={s.createdAt}>{age(s.createdAt)}</dd>
        <dt>Limits</dt>
        <dd>
          {s.cpus ?? 'any'} CPUs, {s.memoryMb ? bytes(s.memoryMb * 1024 * 1024) : 'no memory limit'}, {s.pidsLimit} processes
        </dd>
        {s.gpus.length > 0 && (
          <>
            <dt>GPUs</dt>
            <dd>{s.gpus.join(', ')}</dd>
          </>
        )}
        {s.owner && (
          <>
            <dt>Owner</dt>
            <dd>{s.owner}</dd>
          </>
        )}
      </dl>
      <nav className="tabs" aria-label="Sandbox sections">
        {TABS.map(([id, label]) => (
          <a key={id} href={sandboxHref(name, id)} aria-current={tab === id ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      <section className="tab-body" aria-label={TABS.find(([id]) => id === tab)?.[1] ?? 'Terminal'}>
        <Suspense fallback={<p className="loading">Loading…</p>}>
          {tab === 'terminal' && <Terminal name={name} attachId={arg} />}
          {tab === 'log' && <ConsoleLog name={name} />}
          {tab === 'commands' && <Commands name={name} selected={arg} />}
          {tab === 'files' && <Files name={name} />}
          {tab === 'snapshots' && <Snapshots sandbox={s} onChanged={reload} />}
          {tab === 'ports' && <Ports sandbox={s} onChanged={(n) => sb.setData(() => n)} />}
          {tab === 'stats' && <Stats sandbox={s} />}
        </Suspense>
      </section>
    </>
  );
}
