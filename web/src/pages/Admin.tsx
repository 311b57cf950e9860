import { useState, type FormEvent } from 'react';
import type { UserT } from '../../../src/api/schemas.js';
import { ConfirmButton } from '../components/ConfirmButton.js';
import { CopyButton } from '../components/CopyButton.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { Table } from '../components/Table.js';
import { call } from '../lib/api.js';
import { bytes, time } from '../lib/format.js';
import { useAction, useLoad } from '../lib/hooks.js';
import { useSession } from '../lib/session.js';

/** Users with their quotas and keys (admin), and the signed-in user's secret names (never values). */
export function Admin() {
  const { user } = useSession();
  return (
    <>
      <div className="page-head">
        <h1>{user.admin ? 'Admin' : 'Secrets'}</h1>
      </div>
      {user.admin && <Users />}
      <Secrets />
    </>
  );
}

const limit = (n: number | null, f: (n: number) => string = String) => (n === null ? 'no limit' : f(n));

function Users() {
  const users = useLoad((signal) => call('listUsers', { signal }), []);
  const [newKey, setNewKey] = useState<{ user: string; key: string }>();
  const [name, setName] = useState('');
  const [maxSandboxes, setMaxSandboxes] = useState('');
  const action = useAction();
  const create = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      const r = await call('createUser', { body: { name, ...(maxSandboxes ? { quota: { maxSandboxes: Number(maxSandboxes) } } : {}) } });
      setNewKey({ user: r.user.name, key: r.key });
      setName('');
      users.reload();
    });
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form onSubmit={create} className="row wrap" aria-label="New user">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required pattern="[a-z0-9]([a-z0-9\-]{0,46}[a-z0-9])?" />
        </label>
        <label>
          Max sandboxes
          <input type="number" min={0} value={maxSandboxes} onChange={(e) => setMaxSandboxes(e.target.value)} placeholder="no limit" />
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          Create user
        </button>
      </form>
      {newKey && (
        <p className="row wrap notice" role="status">
          API key of {newKey.user} (shown once, never again): <code data-testid="new-key">{newKey.key}</code> <CopyButton text={newKey.key} label="Copy key" />
        </p>
      )}
      <ErrorNote error={action.error ?? users.error} />
      <Table caption="Users and quotas" columns={['Name', 'Since', 'Max sandboxes', 'Max memory', 'Max snapshots', 'Key']}>
        {(users.data ?? []).map((u: UserT) => (
          <tr key={u.name} data-user={u.name}>
            <td>
              {u.name}
              {u.admin && <span className="badge">admin</span>}
            </td>
            <td>{time(u.createdAt)}</td>
            <td>{limit(u.quota.maxSandboxes)}</td>
            <td>{limit(u.quota.maxMemoryMb, (n) => bytes(n * 1024 * 1024))}</td>
            <td>{limit(u.quota.maxSnapshotBytes, bytes)}</td>
            <td>
              <ConfirmButton
                label="Rotate key"
                ariaLabel={`Rotate key of ${u.name}`}
                title={`Rotate the API key of ${u.name}?`}
                warning="A new key is made and shown once; the old one stops working at once."
                onConfirm={async () => {
                  const r = await call('rotateUserKey', { params: { name: u.name } });
                  setNewKey({ user: r.user.name, key: r.key });
                }}
              />
            </td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

function Secrets() {
  const secrets = useLoad((signal) => call('listSecrets', { signal }), []);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const action = useAction();
  const save = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      await call('setSecret', { params: { name }, body: { value } });
      setName('');
      setValue('');
      secrets.reload();
    });
  };
  return (
    <section aria-labelledby="secrets-title">
      <h2 id="secrets-title">Your secrets</h2>
      <p className="hint">Names only: a value is sealed when set and never shown again.</p>
      <form onSubmit={save} className="row wrap" aria-label="Set a secret">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z_][A-Za-z0-9_]{0,127}" />
        </label>
        <label>
          Value
          <input type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          Set secret
        </button>
      </form>
      <ErrorNote error={action.error ?? secrets.error} />
      <ul className="plain">
        {secrets.data?.length === 0 && <li className="muted">None.</li>}
        {(secrets.data ?? []).map((s) => (
          <li key={s.name} className="row wrap">
            <code>{s.name}</code> <span className="muted">updated {time(s.updatedAt)}</span>
            <ConfirmButton
              label="Remove"
              ariaLabel={`Remove secret ${s.name}`}
              title={`Remove secret ${s.name}?`}
              warning="Sandboxes that use it keep the value they started with."
              danger
              onConfirm={async () => {
                await call('removeSecret', { params: { name: s.name } });
                secrets.reload();
              }}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}
