import { Writable } from 'node:stream';
import pino from 'pino';
import type { Clock } from '../../src/clock/clock';
import { startTestApp, codes, type TestApp } from '../support/harness';

// Circular type references in introspection (type → ofType → …) are the classic deep query.
const TOO_DEEP = `{ __type(name: "Query") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }`;
const NOW = `{ now }`;
const aliasesOf = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: now`).join(' ')} }`;

describe('request and query limits', () => {
  let t: TestApp;
  beforeAll(async () => { t = await startTestApp({ BODY_LIMIT: '1kb' }); });
  afterAll(async () => { await t.close(); });

  test('a body over BODY_LIMIT is refused with HTTP 413 and LIMIT_EXCEEDED', async () => {
    const res = await t.request().post('/graphql')
      .set('content-type', 'application/json')
      .set('authorization', `Bearer ${t.admin}`)
      .send({ query: `{ now }`, variables: { padding: 'x'.repeat(2048) } });
    expect(res.status).toBe(413);
    expect(res.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(['LIMIT_EXCEEDED']);
  });

  test('malformed JSON is BAD_USER_INPUT with HTTP 400', async () => {
    const res = await t.request().post('/graphql')
      .set('content-type', 'application/json')
      .set('authorization', `Bearer ${t.admin}`)
      .send('{"query": "{ now }"');
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  });

  test('a syntax error is BAD_USER_INPUT with HTTP 400, not a server error', async () => {
    const res = await t.gql(`{ now`);
    expect(res.status).toBe(400);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
  });

  test('a query deeper than GRAPHQL_MAX_DEPTH is LIMIT_EXCEEDED', async () => {
    const res = await t.gql(TOO_DEEP);
    expect(res.status).toBe(400);
    expect(codes(res)).toContain('LIMIT_EXCEEDED');
    expect(res.data).toBeUndefined();
  });

  test('more aliases than GRAPHQL_MAX_ALIASES is LIMIT_EXCEEDED; the limit itself is allowed', async () => {
    const atLimit = await t.gql(aliasesOf(t.config.limits.maxAliases));
    expect(atLimit.errors).toBeUndefined();
    const over = await t.gql(aliasesOf(t.config.limits.maxAliases + 1));
    expect(codes(over)).toEqual(['LIMIT_EXCEEDED']);
  });

  test('an unknown endpoint is HTTP 404 NOT_FOUND in the API error shape, not an HTML page', async () => {
    for (const [method, path] of [['get', '/nope'], ['post', '/v1/graphql'], ['delete', '/healthz']] as const) {
      const res = await t.request()[method](path).set('authorization', `Bearer ${t.admin}`);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      expect(res.text).not.toMatch(/<html|<pre>/i);
    }
  });

  test('healthz answers 200 and readyz 200 while the database answers', async () => {
    expect((await t.request().get('/healthz')).status).toBe(200);
    expect((await t.request().get('/readyz')).status).toBe(200);
  });
});

test('a document over GRAPHQL_MAX_TOKENS is LIMIT_EXCEEDED', async () => {
  const t = await startTestApp({ GRAPHQL_MAX_TOKENS: '40' });
  try {
    const res = await t.gql(`{ ${Array.from({ length: 5 }, (_, i) => `a${i}: now`).join(' ')} program { name pointsName currency earnRate pendingDays } }`);
    expect(res.errors).toBeUndefined();
    const over = await t.gql(`{ ${'now '.repeat(50)} }`);
    expect(over.status).toBe(400);
    expect(codes(over)).toEqual(['LIMIT_EXCEEDED']);
  } finally {
    await t.close();
  }
});

test('an unexpected exception is a masked INTERNAL_SERVER_ERROR with an errorId', async () => {
  const brokenClock: Clock = { now: async () => { throw new Error('clock exploded at /srv/secret/path'); } };
  const logLines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });
  const t = await startTestApp({}, { clock: brokenClock, logger: pino({ level: 'error' }, sink) });
  try {
    const res = await t.gql(NOW);
    expect(codes(res)).toEqual(['INTERNAL_SERVER_ERROR']);
    const [error] = res.errors!;
    expect(error!.message).toBe('Internal server error');
    expect(error!.extensions!.errorId).toMatch(/^[0-9a-f-]{36}$/);
    const body = JSON.stringify(res.body);
    expect(body).not.toContain('exploded');
    expect(body).not.toContain('/srv/secret');
    expect(body).not.toMatch(/stacktrace|\bat .*\.ts:\d+/i);
    // Operators find the real cause in the log under the same errorId.
    const logged = logLines.map((line) => JSON.parse(line)).find((entry) => entry.errorId === error!.extensions!.errorId);
    expect(logged?.err?.message).toContain('clock exploded');
    // The process keeps serving after the failure.
    expect((await t.request().get('/healthz')).status).toBe(200);
  } finally {
    await t.close();
  }
});

test('readyz answers 503 once the database is gone, while healthz stays 200', async () => {
  const t = await startTestApp();
  try {
    expect((await t.request().get('/readyz')).status).toBe(200);
    await t.database.close();
    const ready = await t.request().get('/readyz');
    expect(ready.status).toBe(503);
    expect((await t.request().get('/healthz')).status).toBe(200);
  } finally {
    await t.close();
  }
});
