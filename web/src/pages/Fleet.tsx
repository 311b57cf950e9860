import { memo, useCallback, useEffect, useMemo, useState } from 'react';
import type { EventT, SandboxT } from '../../../src/api/schemas.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { SandboxActions } from '../components/SandboxActions.js';
import { StateBadge } from '../components/StateBadge.js';
import { ApiError, call } from '../lib/api.js';
import { useEvents } from '../lib/events.js';
import { age, displayState, STATE_LABEL, type DisplayState } from '../lib/format.js';
import { useLoad } from '../lib/hooks.js';
import { fleetList } from '../lib/prefetch.js';
import { sandboxHref } from '../lib/router.js';
import { CreateSandbox } from './CreateSandbox.js';

/** Past this many sandboxes changed in one batch, one list reload is cheaper than one request each. */
const RELOAD_OVER = 20;

export function Fleet() {
  const list = useLoad(fleetList, []);
  const [query, setQuery] = useState('');
  const [stateFilter, setStateFilter] = useState<DisplayState | ''>('');
  const { reload, setData } = list;

  const onEvents = useCallback(
    (events: EventT[]) => {
      const names = [...new Set(events.map((e) => e.sandbox))];
      if (names.length > RELOAD_OVER) return reload();
      for (const name of names)
        call('getSandbox', { params: { name } }).then(
          (s) => setData((old) => upsert(old ?? [], s)),
          (e) => {
            if (e instanceof ApiError && e.status === 404) setData((old) => old?.filter((x) => x.name !== name));
          },
        );
    },
    [reload, setData],
  );
  useEvents(onEvents);

  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const shown = (list.data ?? []).filter(
      (s) =>
        (!stateFilter || displayState(s) === stateFilter) &&
        (!q || [s.name, s.image, s.host, s.owner ?? '', s.address ?? '', ...s.urls.map((u) => u.url)].some((f) => f.toLowerCase().includes(q))),
    );
    const byHost = new Map<string, SandboxT[]>();
    for (const s of shown) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
    return [...byHost.entries()].sort(([a], [b]) => (a === 'local' ? -1 : b === 'local' ? 1 : a.localeCompare(b)));
  }, [list.data, query, stateFilter]);

  const loaded = list.data !== undefined;
  useEffect(() => {
    // When the first list is on screen (after React committed it): what "first page usable" is measured by.
    if (loaded && !performance.getEntriesByName('bothub:fleet-usable').length) performance.mark('bothub:fleet-usable');
  }, [loaded]);

  const total = list.data?.length ?? 0;
  const shownCount = groups.reduce((n, [, g]) => n + g.length, 0);
  return (
    <>
      <div className="page-head">
        <h1>Fleet</h1>
        <CreateSandbox onCreated={(s) => setData((old) => upsert(old ?? [], s))} />
      </div>
      <div className="toolbar" role="search">
        <label>
          Search
          <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="name, image, host, owner, URL" />
        </label>
        <label>
          State
          <select value={stateFilter} onChange={(e) => setStateFilter(e.target.value as DisplayState | '')}>
            <option value="">all</option>
            {(Object.keys(STATE_LABEL) as DisplayState[]).map((k) => (
              <option key={k} value={k}>
                {STATE_LABEL[k]}
              </option>
            ))}
          </select>
        </label>
        <span className="muted" aria-live="polite" data-testid="fleet-count">
          {list.loading && !list.data ? 'Loading…' : `${shownCount} of ${total} sandboxes`}
        </span>
      </div>
      <ErrorNote error={list.error} />
      {list.data && total === 0 && (
        <p className="empty">
          No sandboxes yet. Create one above, or with <code>bothub create</code>.
        </p>
      )}
      {groups.map(([host, sandboxes]) => (
        <section key={host} className="host-group" aria-labelledby={`host-${host}`}>
          <h2 id={`host-${host}`}>
            Host {host} <span className="muted">({sandboxes.length})</span>
          </h2>
          <ul className="tiles">
            {sandboxes.map((s) => (
              <Tile key={s.id} s={s} onChanged={(n) => setData((old) => (n ? upsert(old ?? [], n) : old?.filter((x) => x.name !== s.name)))} />
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

function upsert(list: SandboxT[], s: SandboxT): SandboxT[] {
  const i = list.findIndex((x) => x.name === s.name);
  if (i < 0) return [...list, s].sort((a, b) => a.name.localeCompare(b.name));
  const copy = list.slice();
  copy[i] = s;
  return copy;
}

/** One sandbox; memoised so an event re-renders only the tile it changed. */
const Tile = memo(function Tile({ s, onChanged }: { s: SandboxT; onChanged: (s: SandboxT | undefined) => void }) {
  const state = displayState(s);
  return (
    <li className={`tile state-${state}`} data-sandbox={s.name} aria-label={`${s.name}, ${STATE_LABEL[state]}`}>
      <div className="tile-head">
        <a href={sandboxHref(s.name)} className="tile-name">
          {s.name}
        </a>
        <StateBadge state={state} />
      </div>
      <dl className="facts">
        <dt>Image</dt>
        <dd>{s.image}</dd>
        <dt>Age</dt>
        <dd title={s.createdAt}>{age(s.createdAt)}</dd>
        {s.owner && (
          <>
            <dt>Owner</dt>
            <dd>{s.owner}</dd>
          </>
        )}
      </dl>
      {s.statusReason && <p className="reason">{s.statusReason}</p>}
      <div className="row wrap">
        {s.gpus.length > 0 && (
          <span className="badge gpu" title={s.gpus.join('\n')}>
            GPU ×{s.gpus.length}
          </span>
        )}
        {s.urls.map((u) => (
          <a key={u.port} className="badge url" href={u.url} target="_blank" rel="noreferrer" title={u.url}>
            :{u.port} {u.public ? 'public' : 'private'}
          </a>
        ))}
      </div>
      <SandboxActions s={s} onChanged={onChanged} />
    </li>
  );
});
