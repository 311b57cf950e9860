import { lazy, Suspense, useEffect, useState } from 'react';
import { ErrorNote } from './components/ErrorNote.js';
import { errorText, setOnSignedOut } from './lib/api.js';
import { useRoute } from './lib/router.js';
import { currentSession, SessionContext, signOut, type Session } from './lib/session.js';
import { Fleet } from './pages/Fleet.js';
import { SignIn } from './pages/SignIn.js';

// The fleet is the first page: it ships in the main bundle; the rest (and xterm) load when opened.
const SandboxPage = lazy(() => import('./pages/SandboxPage.js').then((m) => ({ default: m.SandboxPage })));
const Hosts = lazy(() => import('./pages/Hosts.js').then((m) => ({ default: m.Hosts })));
const Admin = lazy(() => import('./pages/Admin.js').then((m) => ({ default: m.Admin })));

export function App() {
  const [session, setSession] = useState<Session | null>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    setOnSignedOut(() => setSession(null));
    currentSession().then(
      (s) => setSession(s ?? null),
      (e) => setError(errorText(e)),
    );
  }, []);
  if (error)
    return (
      <main className="signin">
        <h1>bothub</h1>
        <ErrorNote error={error} />
      </main>
    );
  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={setSession} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell session={session} onSignedOut={() => setSession(null)} />
    </SessionContext.Provider>
  );
}

function Shell({ session, onSignedOut }: { session: Session; onSignedOut: () => void }) {
  const route = useRoute();
  const current = route.page;
  const link = (page: string, href: string, label: string) => (
    <a href={href} aria-current={current === page ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">bothub</span>
        <nav aria-label="Main">
          {link('fleet', '#/', 'Fleet')}
          {link('hosts', '#/hosts', 'Hosts')}
          {link('admin', '#/admin', session.user.admin ? 'Admin' : 'Secrets')}
        </nav>
        <span className="who">
          Signed in as <strong>{session.user.name}</strong>
          {session.user.admin ? ' (admin)' : ''}
        </span>
        <button type="button" onClick={() => void signOut().finally(onSignedOut)}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p className="loading">Loading…</p>}>
          {route.page === 'fleet' && <Fleet />}
          {route.page === 'sandbox' && <SandboxPage key={route.name} name={route.name} tab={route.tab} arg={route.arg} />}
          {route.page === 'hosts' && <Hosts snapshot={route.snapshot} />}
          {route.page === 'admin' && <Admin />}
        </Suspense>
      </main>
    </>
  );
}
