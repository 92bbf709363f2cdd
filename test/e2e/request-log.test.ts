import { Writable } from 'node:stream';
import pino from 'pino';
import { startTestApp, type TestApp } from '../support/harness';

// The request log is read by more people than hold tokens: it must say who asked for what,
// never carry a credential.

let t: TestApp;
const lines: string[] = [];
beforeAll(async () => {
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  t = await startTestApp({}, { logger: pino({ level: 'info' }, sink) });
});
afterAll(async () => { await t.close(); });
beforeEach(() => { lines.length = 0; });

const ENROL = 'mutation { enrollMember(input: { externalId: "log-1", email: "log-1@example.com" }) { id } }';

test('a request is logged with its id, method, URL and status, without its bearer token or cookies', async () => {
  const res = await t.request().post('/graphql')
    .set('authorization', `Bearer ${t.admin}`)
    .set('cookie', 'session=cookie-secret-value')
    .set('user-agent', 'checkout/2.1')
    .set('content-type', 'application/json')
    .send({ query: ENROL });
  expect(res.status).toBe(200);
  expect(res.body.errors).toBeUndefined();
  const requestId = res.headers['x-request-id'];
  const entries = lines.map((line) => JSON.parse(line) as Record<string, any>);
  const completed = entries.find((e) => e.msg === 'request completed');
  expect(completed?.req).toEqual({
    id: requestId, method: 'POST', url: '/graphql', remoteAddress: expect.any(String),
    headers: { 'user-agent': 'checkout/2.1', 'content-type': 'application/json', 'content-length': expect.any(String) },
  });
  expect(completed?.res?.statusCode).toBe(200);
  // The service's own line about the work carries the same request.
  expect(entries.find((e) => e.msg === 'member enrolled')?.req?.id).toBe(requestId);
  const all = lines.join('\n');
  expect(all).not.toContain(t.admin);
  expect(all).not.toContain(t.admin.split('.')[2] as string);
  expect(all).not.toMatch(/bearer/i);
  expect(all).not.toContain('cookie-secret-value');
});

test('a refused token is not logged either', async () => {
  const forged = `${t.admin.slice(0, -4)}AAAA`;
  const res = await t.request().post('/graphql').set('authorization', `Bearer ${forged}`).set('content-type', 'application/json').send({ query: '{ now }' });
  expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(lines.some((line) => line.includes('"request completed"'))).toBe(true);
  expect(lines.join('\n')).not.toContain(forged);
});
