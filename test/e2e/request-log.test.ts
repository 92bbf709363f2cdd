import { Writable } from 'node:stream';
import pino from 'pino';
import { startTestApp, type TestApp } from '../support/harness';
import { eventually } from '../support/eventually';

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

/** The completion line is written when the answer has gone, which may be just after the caller has it. */
function completedLines(count: number): Promise<Record<string, any>[]> {
  return eventually(`${count} request lines`, () => {
    const completed = lines.map((line) => JSON.parse(line) as Record<string, any>).filter((e) => e.msg === 'request completed');
    return completed.length >= count && completed;
  });
}

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
  const [completed] = await completedLines(1);
  const entries = lines.map((line) => JSON.parse(line) as Record<string, any>);
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
  await completedLines(1);
  expect(lines.join('\n')).not.toContain(forged);
});

test("a caller's own request id is kept, echoed and logged; one that is not a plain token is replaced", async () => {
  const kept = await t.request().post('/graphql').set('authorization', `Bearer ${t.admin}`).set('x-request-id', 'checkout-42.a').send({ query: '{ now }' });
  expect(kept.headers['x-request-id']).toBe('checkout-42.a');
  const replaced = await t.request().post('/graphql').set('authorization', `Bearer ${t.admin}`).set('x-request-id', 'two words').send({ query: '{ now }' });
  expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  const completed = await completedLines(2);
  expect(completed.map((e) => e.req.id)).toEqual(['checkout-42.a', replaced.headers['x-request-id']]);
  expect(completed.every((e) => typeof e.responseTime === 'number' && e.res.statusCode === 200)).toBe(true);
});

test('probes are answered without a log line; a request for no endpoint is logged with its 404', async () => {
  expect((await t.request().get('/healthz')).status).toBe(200);
  expect((await t.request().get('/readyz')).status).toBe(200);
  expect(lines).toEqual([]);
  expect((await t.request().get('/nowhere?x=1')).status).toBe(404);
  const entries = await completedLines(1);
  expect(lines).toHaveLength(1);
  expect(entries[0]).toMatchObject({ level: 30, msg: 'request completed', req: { method: 'GET', url: '/nowhere?x=1' }, res: { statusCode: 404 } });
});
