/**
 * The developer explorer at GET /graphql: GraphiQL (schema docs, autocomplete, history) over
 * this server's endpoint, with a token field that takes the raw output of `npm run token`.
 */
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import './explorer.css';
import { StrictMode, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL, type GraphiQLProps } from 'graphiql';
import { bearer } from './token';
import { EXAMPLES } from './explorer-examples';

const TOKEN_KEY = 'milepost.explorer.token';

function readToken(): string {
  try { return localStorage.getItem(TOKEN_KEY) ?? ''; } catch { return ''; }
}

function Explorer() {
  const [token, setToken] = useState(readToken);
  // GraphiQL keeps the fetcher it was given; the fetcher reads the field's latest value.
  const current = useRef(token);
  current.current = token;
  const remember = (value: string) => {
    setToken(value);
    try { localStorage.setItem(TOKEN_KEY, value.trim()); } catch { /* private mode: kept for this page only */ }
  };
  const [fetcher] = useState(() => (async (params, options) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
    const value = bearer(current.current);
    if (value) headers.authorization = value;
    // A header typed in GraphiQL's own headers editor wins over the field.
    Object.assign(headers, options?.headers ?? {});
    const res = await fetch(window.location.pathname, { method: 'POST', headers, body: JSON.stringify(params) });
    return res.json();
  }) satisfies GraphiQLProps['fetcher']);
  return (
    <div className="explorer">
      <header className="explorer-bar">
        <h1>Milepost explorer</h1>
        <label htmlFor="token">Token</label>
        <input
          id="token" type="password" autoComplete="off" spellCheck={false} value={token}
          placeholder="paste the output of: npm run -s token -- --role ADMIN (with or without Bearer)"
          onChange={(e) => remember(e.target.value)}
        />
        <button type="button" onClick={() => remember('')}>Forget</button>
        <a href="/admin/">Admin console</a>
      </header>
      <div className="explorer-main">
        <GraphiQL fetcher={fetcher} defaultTabs={EXAMPLES} defaultEditorToolsVisibility="variables" />
      </div>
    </div>
  );
}

createRoot(document.getElementById('explorer')!).render(<StrictMode><Explorer /></StrictMode>);
