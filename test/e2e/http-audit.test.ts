import { serverAudits, type AuditResult } from 'graphql-http';
import { startTestApp, type TestApp } from '../support/harness';

// The GraphQL-over-HTTP conformance suite shipped with graphql-http, run against the real app.
// Every request carries an ADMIN token, so audits exercise the protocol rather than auth.

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

function authenticatedFetch(token: string): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}

function reasonOf(result: AuditResult): string {
  return result.status === 'ok' ? 'ok' : result.reason;
}

test('every MUST audit of the GraphQL-over-HTTP spec passes', async () => {
  const audits = serverAudits({ url: `${t.baseUrl}/graphql`, fetchFn: authenticatedFetch(t.admin) });
  expect(audits.filter((a) => a.name.startsWith('MUST')).length).toBeGreaterThan(10);
  const failures: string[] = [];
  for (const audit of audits) {
    const result = await audit.fn();
    if (result.status !== 'ok' && audit.name.startsWith('MUST')) {
      failures.push(`${audit.id} ${audit.name}: ${reasonOf(result)}`);
    }
  }
  expect(failures).toEqual([]);
});

test('SHOULD audits are reported, not required', async () => {
  const audits = serverAudits({ url: `${t.baseUrl}/graphql`, fetchFn: authenticatedFetch(t.admin) });
  const results = await Promise.all(audits.filter((a) => a.name.startsWith('SHOULD')).map(async (a) => ({ a, r: await a.fn() })));
  const warnings = results.filter(({ r }) => r.status !== 'ok').map(({ a, r }) => `${a.id} ${a.name}: ${reasonOf(r)}`);
  // Printed for the reader of the test log; the spec allows a server to differ here.
  if (warnings.length > 0) process.stdout.write(`SHOULD audits not met:\n${warnings.join('\n')}\n`);
  expect(results.length).toBeGreaterThan(0);
});

test('answers, errors included, are marked uncacheable: they hold one member\'s data', async () => {
  const post = (body: unknown) => fetch(`${t.baseUrl}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.admin}` }, body: JSON.stringify(body),
  });
  const ok = await post({ query: '{ now }' });
  expect(ok.status).toBe(200);
  expect(ok.headers.get('cache-control')).toBe('no-store');
  const invalid = await post({ query: '{ nope }' });
  expect(invalid.status).toBe(400);
  expect(invalid.headers.get('cache-control')).toBe('no-store');
});
