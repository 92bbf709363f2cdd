/** The console's frame: sign-in, navigation and the page the address (#/…) names. */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { onSignedOut, signIn, tokenStore } from './api';
import { ErrorMessage } from './ui';
import { Dashboard } from './pages/Dashboard';
import { Members } from './pages/Members';
import { MemberPage } from './pages/MemberPage';
import { Rules } from './pages/Rules';
import { RuleEditor } from './pages/RuleEditor';
import { Rewards } from './pages/Rewards';
import { Partners } from './pages/Partners';
import { Webhooks } from './pages/Webhooks';
import { Settings } from './pages/Settings';

const NAV = [
  { path: '', label: 'Dashboard' },
  { path: 'members', label: 'Members' },
  { path: 'rules', label: 'Earning rules' },
  { path: 'rewards', label: 'Rewards' },
  { path: 'partners', label: 'Partners' },
  { path: 'webhooks', label: 'Webhooks' },
  { path: 'settings', label: 'Programme' },
];

function useRoute(): string[] {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const changed = () => setHash(window.location.hash);
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
}

function page(route: string[]): { title: string; body: ReactNode } {
  const [section = '', id] = route;
  switch (section) {
    case 'members': return id ? { title: 'Member', body: <MemberPage id={id} /> } : { title: 'Members', body: <Members /> };
    case 'rules': return id ? { title: id === 'new' ? 'New earning rule' : 'Edit earning rule', body: <RuleEditor id={id === 'new' ? null : id} /> } : { title: 'Earning rules', body: <Rules /> };
    case 'rewards': return { title: 'Rewards and redemptions', body: <Rewards /> };
    case 'partners': return { title: 'Partners', body: <Partners /> };
    case 'webhooks': return { title: 'Webhooks', body: <Webhooks selected={id} /> };
    case 'settings': return { title: 'Programme settings', body: <Settings /> };
    default: return { title: 'Dashboard', body: <Dashboard /> };
  }
}

export function App() {
  const [token, setToken] = useState(tokenStore.token);
  const [reason, setReason] = useState<string>();
  useEffect(() => onSignedOut((why) => { setReason(why); setToken(''); }), []);
  if (!token) return <SignIn reason={reason} onSignedIn={(t) => { setReason(undefined); setToken(t); }} />;
  return <Shell onSignOut={() => { tokenStore.clear(); setToken(''); }} />;
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const { title, body } = page(route);
  const heading = useRef<HTMLHeadingElement>(null);
  const key = route.join('/');
  // A new page moves focus to its heading, so keyboard and screen-reader users start there.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    heading.current?.focus();
  }, [key]);
  useEffect(() => { document.title = `${title} · Milepost admin`; }, [title]);
  return (
    <div className="shell">
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); heading.current?.focus(); }}>Skip to content</a>
      <header className="topbar">
        <span className="brand">Milepost <span>admin</span></span>
        <a href="/graphql" className="topbar-link">GraphQL explorer</a>
        <button type="button" className="ghost" onClick={onSignOut}>Sign out</button>
      </header>
      <nav className="sidebar" aria-label="Sections">
        <ul>
          {NAV.map((item) => {
            const current = (route[0] ?? '') === item.path;
            return <li key={item.path}><a href={`#/${item.path}`} aria-current={current ? 'page' : undefined}>{item.label}</a></li>;
          })}
        </ul>
      </nav>
      <main id="main">
        <h1 ref={heading} tabIndex={-1}>{title}</h1>
        <div key={key}>{body}</div>
      </main>
    </div>
  );
}

function SignIn({ reason, onSignedIn }: { reason?: string; onSignedIn: (token: string) => void }) {
  const [pasted, setPasted] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(pasted));
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Milepost admin</h1>
        <p>Sign in with an ADMIN bearer token. It stays in this browser tab only and is forgotten when the tab closes.</p>
        {reason && <p className="notice" role="status">{reason}</p>}
        <label htmlFor="token">ADMIN token</label>
        <input id="token" type="password" value={pasted} onChange={(e) => setPasted(e.target.value)} spellCheck={false}
          autoComplete="off" required aria-describedby="token-hint" placeholder="eyJhbGciOi…" />
        <p id="token-hint" className="hint">Make one with <code>npm run -s token -- --role ADMIN</code>; with or without “Bearer ”.</p>
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
