import { useState, type FormEvent } from 'react';
import { ErrorNote } from '../components/ErrorNote.js';
import { useAction } from '../lib/hooks.js';
import { signIn, type Session } from '../lib/session.js';

/** Sign-in with an API key; the daemon answers with an HttpOnly cookie, so the key is not kept in the page. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => onSignedIn(await signIn(token.trim())));
  };
  return (
    <main className="signin" id="main">
      <h1>bothub</h1>
      <form onSubmit={submit} className="card">
        <h2>Sign in</h2>
        <label htmlFor="token">API key</label>
        <input id="token" name="token" type="password" autoComplete="current-password" autoFocus value={token} onChange={(e) => setToken(e.target.value)} required />
        <p className="hint">
          The key <code>bothub</code> uses (<code>BOTHUB_TOKEN</code>, or the admin key in the daemon&apos;s data directory).
        </p>
        <ErrorNote error={action.error} />
        <button type="submit" className="primary" disabled={action.busy || !token.trim()}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
