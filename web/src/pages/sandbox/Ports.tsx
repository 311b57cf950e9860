import { useState, type FormEvent } from 'react';
import type { SandboxT } from '../../../../src/api/schemas.js';
import { ConfirmButton } from '../../components/ConfirmButton.js';
import { CopyButton } from '../../components/CopyButton.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { call } from '../../lib/api.js';
import { time } from '../../lib/format.js';
import { useAction, useLoad } from '../../lib/hooks.js';

/** Published ports (preview URLs) and signed share links to private ones. */
export function Ports({ sandbox, onChanged }: { sandbox: SandboxT; onChanged: (s: SandboxT) => void }) {
  const name = sandbox.name;
  const shares = useLoad((signal) => call('listShares', { params: { name }, signal }), [name]);
  const [port, setPort] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [sharePort, setSharePort] = useState('');
  const [ttlMin, setTtlMin] = useState('60');
  const [newLink, setNewLink] = useState<string>();
  const action = useAction();
  const publish = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      onChanged(await call('publish', { params: { name }, body: { port: Number(port), public: isPublic } }));
      setPort('');
    });
  };
  const share = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const link = await call('createShare', { params: { name }, body: { port: Number(sharePort || sandbox.urls[0]?.port), ttlSeconds: Math.round(Number(ttlMin) * 60) } });
      setNewLink(link.url);
      shares.reload();
    });
  };
  return (
    <>
      <h2>Published ports</h2>
      <ul className="plain">
        {sandbox.urls.length === 0 && <li className="muted">None yet.</li>}
        {sandbox.urls.map((u) => (
          <li key={u.port} className="row wrap">
            <strong>:{u.port}</strong> <span className="badge">{u.public ? 'public' : 'private: key or share link'}</span>
            <a href={u.url} target="_blank" rel="noreferrer">
              {u.url}
            </a>
            <CopyButton text={u.url} label="Copy URL" />
            <ConfirmButton
              label="Unpublish"
              ariaLabel={`Unpublish port ${u.port}`}
              title={`Stop serving port ${u.port}?`}
              warning="Its URL stops working, and so do its share links."
              danger
              onConfirm={async () => onChanged(await call('unpublish', { params: { name, port: u.port } }))}
            />
          </li>
        ))}
      </ul>
      <form onSubmit={publish} className="row wrap" aria-label="Publish a port">
        <label>
          Port
          <input type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} required />
        </label>
        <label className="check">
          <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> Public (anyone with the URL)
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          Publish
        </button>
      </form>

      <h2>Share links</h2>
      <form onSubmit={share} className="row wrap" aria-label="New share link">
        <label>
          Port
          <select value={sharePort} onChange={(e) => setSharePort(e.target.value)} required disabled={sandbox.urls.length === 0}>
            {sandbox.urls.map((u) => (
              <option key={u.port} value={u.port}>
                {u.port}
              </option>
            ))}
          </select>
        </label>
        <label>
          Valid for (minutes)
          <input type="number" min={1} max={43200} value={ttlMin} onChange={(e) => setTtlMin(e.target.value)} />
        </label>
        <button type="submit" disabled={action.busy || sandbox.urls.length === 0}>
          Create link
        </button>
      </form>
      {newLink && (
        <p className="row wrap" role="status">
          New link (shown once): <code>{newLink}</code> <CopyButton text={newLink} />
        </p>
      )}
      <ErrorNote error={action.error ?? shares.error} />
      <ul className="plain">
        {(shares.data ?? []).map((sh) => (
          <li key={sh.id} className="row wrap">
            <code>{sh.id}</code> port {sh.port}, {sh.revoked ? 'revoked' : `until ${time(sh.expiresAt)}`}
            {!sh.revoked && (
              <ConfirmButton
                label="Revoke"
                ariaLabel={`Revoke share ${sh.id}`}
                title="Revoke this link?"
                warning="Whoever has it can no longer open the preview."
                danger
                onConfirm={async () => {
                  await call('revokeShare', { params: { id: sh.id } });
                  shares.reload();
                }}
              />
            )}
          </li>
        ))}
      </ul>
    </>
  );
}
