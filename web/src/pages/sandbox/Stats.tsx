import { useEffect, useState } from 'react';
import type { SandboxStatsT, SandboxT } from '../../../../src/api/schemas.js';
import type { ServerMessageOf } from '../../../../src/api/routes.js';
import { routeUrl, socketUrl } from '../../lib/api.js';
import { bytes } from '../../lib/format.js';

/** Five minutes at one sample a second. */
const KEEP = 300;

/** CPU and memory over time, from the stats stream (reconnects after a drop). */
export function Stats({ sandbox }: { sandbox: SandboxT }) {
  const [samples, setSamples] = useState<SandboxStatsT[]>([]);
  const [state, setState] = useState('connecting');
  useEffect(() => {
    let stopped = false;
    let ws: WebSocket | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let pause = 1000;
    const connect = () => {
      ws = new WebSocket(socketUrl(routeUrl('sandboxStatsStream', { name: sandbox.name }, { interval: 1000 })));
      ws.onopen = () => {
        setState('live');
        pause = 1000;
      };
      ws.onmessage = (m) => {
        const sample = JSON.parse(String(m.data)) as ServerMessageOf<'sandboxStatsStream'>;
        if ('type' in sample) return setState(sample.message);
        setSamples((old) => [...old.slice(-(KEEP - 1)), sample]);
      };
      ws.onclose = () => {
        if (stopped) return;
        setState((s) => (s === 'live' || s === 'connecting' ? 'reconnecting' : s));
        timer = setTimeout(connect, pause);
        pause = Math.min(pause * 2, 15_000);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ws?.close();
    };
  }, [sandbox.name]);
  const last = samples.at(-1);
  const limit = last?.memoryLimitBytes ?? null;
  return (
    <>
      <p className="muted" role="status">
        Stats: {state}
        {last ? `, ${last.pids} processes` : ''}
      </p>
      <div className="charts">
        <Chart
          title="CPU"
          now={last?.cpuPercent != null ? `${last.cpuPercent.toFixed(1)} %` : '—'}
          values={samples.map((s) => s.cpuPercent ?? 0)}
          max={Math.max(100, ...samples.map((s) => s.cpuPercent ?? 0))}
        />
        <Chart
          title="Memory"
          now={last ? `${bytes(last.memoryBytes)}${limit ? ` of ${bytes(limit)}` : ''}` : '—'}
          values={samples.map((s) => s.memoryBytes)}
          max={limit ?? Math.max(1, ...samples.map((s) => s.memoryBytes)) * 1.2}
        />
      </div>
    </>
  );
}

function Chart({ title, now, values, max }: { title: string; now: string; values: number[]; max: number }) {
  const w = 600;
  const h = 120;
  // The time axis spans at least a minute, and grows to five as samples come.
  const span = Math.max(60, values.length) - 1;
  const points = values.map((v, i) => `${(i / span) * w},${h - (v / max) * h}`).join(' ');
  return (
    <figure className="chart">
      <figcaption>
        {title}: <strong>{now}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title} over the last ${values.length} seconds, now ${now}`} preserveAspectRatio="none">
        <polyline points={points} fill="none" stroke="currentColor" strokeWidth="2" vectorEffect="non-scaling-stroke" />
      </svg>
    </figure>
  );
}
