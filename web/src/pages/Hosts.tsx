import type { HostT } from '../../../src/api/schemas.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { bytes, time } from '../lib/format.js';
import { call } from '../lib/api.js';
import { useLoad } from '../lib/hooks.js';
import { sandboxHref } from '../lib/router.js';
import { MoveSandbox } from './hosts/MoveSandbox.js';
import { SnapshotGate } from './hosts/SnapshotGate.js';

/** The fleet's hosts: fingerprint, health, sandboxes, GPUs; where a snapshot can go; moves. */
export function Hosts({ snapshot }: { snapshot?: string }) {
  const hosts = useLoad((signal) => call('listHosts', { signal }), []);
  const sandboxes = useLoad((signal) => call('listSandboxes', { signal }), []);
  return (
    <>
      <div className="page-head">
        <h1>Hosts</h1>
      </div>
      <ErrorNote error={hosts.error ?? sandboxes.error} />
      <div className="host-cards">
        {(hosts.data ?? []).map((h) => (
          <HostCard key={h.name} h={h} sandboxes={(sandboxes.data ?? []).filter((s) => s.host === h.name).map((s) => s.name)} />
        ))}
      </div>
      <SnapshotGate initial={snapshot} />
      {hosts.data && sandboxes.data && <MoveSandbox hosts={hosts.data} sandboxes={sandboxes.data} onMoved={() => (hosts.reload(), sandboxes.reload())} />}
    </>
  );
}

function HostCard({ h, sandboxes }: { h: HostT; sandboxes: string[] }) {
  const f = h.fingerprint;
  const gpus = f.gpu?.devices ?? [];
  return (
    <section className={`card host ${h.status}`} aria-labelledby={`hc-${h.name}`} data-host={h.name}>
      <div className="tile-head">
        <h2 id={`hc-${h.name}`}>{h.name}</h2>
        <span className={`badge health-${h.status}`}>{h.status === 'reachable' ? '● reachable' : '✕ unreachable'}</span>
      </div>
      {h.statusReason && <p className="reason">{h.statusReason}</p>}
      <dl className="facts">
        <dt>SSH</dt>
        <dd>{h.ssh ?? 'this machine'}</dd>
        <dt>Last seen</dt>
        <dd>{time(h.lastSeenAt)}</dd>
        <dt>Kernel</dt>
        <dd>
          {f.kernel} ({f.arch})
        </dd>
        <dt>CPU</dt>
        <dd>
          {f.cpuModel}
          {f.cpus ? `, ${f.cpus} cores` : ''}
        </dd>
        <dt>Memory</dt>
        <dd>{bytes(f.memoryBytes)}</dd>
        <dt>Disk free</dt>
        <dd>{bytes(f.diskFreeBytes)}</dd>
        <dt>CRIU / runc</dt>
        <dd>
          {f.criuVersion} / {f.runcVersion}
        </dd>
        {h.hostKey && (
          <>
            <dt>Host key</dt>
            <dd>
              <code>{h.hostKey}</code>
            </dd>
          </>
        )}
        <dt>GPUs</dt>
        <dd>
          {gpus.length === 0
            ? 'none'
            : gpus.map((g) => (
                <span key={g.uuid} className="badge gpu" title={g.uuid}>
                  #{g.index} {g.name} {bytes(g.memoryMb * 1024 * 1024)}
                </span>
              ))}
          {f.gpu && (
            <span className="muted">
              {' '}
              driver {f.gpu.driverVersion}, CUDA {f.gpu.cudaVersion}
            </span>
          )}
        </dd>
        <dt>Sandboxes</dt>
        <dd>
          {h.sandboxes}
          {sandboxes.length > 0 && ': '}
          {sandboxes.slice(0, 20).map((n, i) => (
            <span key={n}>
              {i > 0 && ', '}
              <a href={sandboxHref(n)}>{n}</a>
            </span>
          ))}
          {sandboxes.length > 20 && ` and ${sandboxes.length - 20} more`}
        </dd>
      </dl>
    </section>
  );
}
