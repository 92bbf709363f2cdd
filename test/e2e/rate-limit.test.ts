import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startTestApp, codes, type TestApp } from '../support/harness';
import { BALANCE, EARN, ENROLL, PURCHASE, REDEEM, STATEMENT, earn, enroll, key, ok } from './ledger-fixtures';

const NOW = '{ now }';

describe('rate limiting', () => {
  let a: TestApp;
  beforeAll(async () => { a = await startTestApp({ RATE_LIMIT_PER_MINUTE: '5' }); });
  afterAll(async () => { await a.close(); });

  test('a caller past its limit gets RATE_LIMITED with HTTP 429; other callers are unaffected', async () => {
    const partner = await a.partnerToken('p-limit');
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await a.gql(NOW, {}, partner));
    expect(results.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results[5]!.status).toBe(429);
    expect(codes(results[5]!)).toEqual(['RATE_LIMITED']);
    expect(results[5]!.data ?? null).toBeNull();
    const other = await a.gql(NOW, {}, a.admin);
    expect(other.status).toBe(200);
    expect(other.data!.now).toEqual(expect.any(String));
  });

  test('the counters skip the write-ahead log: counting a request writes no WAL and waits for no flush', async () => {
    const { rows } = await sql<{ relpersistence: string }>`
      select c.relpersistence from pg_class c
      where c.relname = 'rate_limits' and c.relnamespace = current_schema()::regnamespace`.execute(a.database.db);
    expect(rows).toEqual([{ relpersistence: 'u' }]);
  });

  test('the count is shared by every instance on one database', async () => {
    // A second app over the same database stands for a second instance.
    const { createApp } = await import('../../src/app');
    const second = await createApp({ config: a.config, database: a.database });
    await new Promise<void>((resolve) => second.httpServer.listen(0, '127.0.0.1', resolve));
    const port = (second.httpServer.address() as { port: number }).port;
    const member = a.token({ role: 'MEMBER', memberId: '00000000-0000-4000-8000-000000000001' });
    const supertest = (await import('supertest')).default;
    const hit = (base: string) =>
      supertest(base).post('/graphql').set('content-type', 'application/json').set('authorization', `Bearer ${member}`).send({ query: NOW });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await hit(i % 2 ? `http://127.0.0.1:${port}` : a.baseUrl)).status);
    await second.stop();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

// A request's count rides with its first statement where the request carries it (db/ahead.ts):
// these check what a caller and an operator see, on PGlite (counts sent alone) and PostgreSQL.
describe('rate limiting: what counts and what a refused request leaves behind', () => {
  let a: TestApp;
  const LIMIT = 12;
  beforeAll(async () => { a = await startTestApp({ RATE_LIMIT_PER_MINUTE: String(LIMIT) }); });
  afterAll(async () => { await a.close(); });

  const counted = async (partnerId: string) => {
    const { rows } = await sql<{ points: number }>`select points from rate_limits where key = ${`api:partner:${partnerId}`}`.execute(a.database.db);
    return rows[0]?.points ?? 0;
  };

  test('every request counts once: reads, writes, refused writes, bad input and requests that touch no data', async () => {
    const memberId = await enroll(a, 'rl');
    await earn(a, memberId, 100);
    const partnerId = `p-count-${randomUUID()}`;
    const partner = await a.partnerToken(partnerId);
    const responses = [
      await a.gql(BALANCE, { id: memberId }, partner),
      await a.gql(STATEMENT, { id: memberId, first: 5 }, partner),
      await a.gql(REDEEM, { input: { memberId, points: 10, idempotencyKey: key() } }, partner),
      await a.gql(REDEEM, { input: { memberId, points: 1_000, idempotencyKey: key() } }, partner),
      await a.gql(PURCHASE, { input: { memberId, orderId: key('o'), amount: '20.00', currency: 'USD' } }, partner),
      await a.gql(NOW, {}, partner),
      await a.gql(REDEEM, { input: { memberId, points: -5, idempotencyKey: key() } }, partner),
    ];
    expect(responses.map((r) => r.errors?.[0]?.extensions?.code ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'INSUFFICIENT_POINTS', 'ok', 'ok', 'BAD_USER_INPUT']);
    // Concurrent balance reads share statements; each still counts.
    const together = await Promise.all(Array.from({ length: 4 }, () => a.gql(BALANCE, { id: memberId }, partner)));
    expect(together.map((r) => r.data?.member?.balance?.available)).toEqual([110, 110, 110, 110]);
    expect(await counted(partnerId)).toBe(responses.length + together.length);
  });

  test('past the limit, reads and every kind of write answer 429 RATE_LIMITED and write nothing', async () => {
    const memberId = await enroll(a, 'rl');
    await earn(a, memberId, 500);
    const partnerId = `p-over-${randomUUID()}`;
    const partner = await a.partnerToken(partnerId);
    for (let i = 0; i < LIMIT; i++) expect((await a.gql(NOW, {}, partner)).status).toBe(200);
    const orderId = key('o');
    const refused = [
      await a.gql(BALANCE, { id: memberId }, partner),
      await a.gql(REDEEM, { input: { memberId, points: 50, idempotencyKey: key() } }, partner),
      await a.gql(EARN, { input: { memberId, points: 50, reason: 'over the limit', idempotencyKey: key() } }, partner),
      await a.gql(PURCHASE, { input: { memberId, orderId, amount: '80.00', currency: 'USD' } }, partner),
      await a.gql(ENROLL, { input: { externalId: `rl-over-${randomUUID()}` } }, partner),
    ];
    expect(refused.map((r) => r.status)).toEqual([429, 429, 429, 429, 429]);
    expect(refused.map((r) => codes(r))).toEqual(Array(5).fill(['RATE_LIMITED']));
    expect(refused.map((r) => r.data ?? null)).toEqual(Array(5).fill(null));
    // The admin, another caller, sees the member exactly as it was: one credit of 500, no order.
    const balance = ok(await a.gql(BALANCE, { id: memberId })).member.balance;
    expect(balance).toMatchObject({ available: 500, lifetimeEarned: 500, lifetimeRedeemed: 0 });
    const entries = ok(await a.gql(STATEMENT, { id: memberId, first: 10 })).member.transactions.edges;
    expect(entries.map((e: { node: { type: string; points: number } }) => [e.node.type, e.node.points])).toEqual([['EARN', 500]]);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from orders where order_id = ${orderId}`.execute(a.database.db);
    expect(rows[0]?.n).toBe(0);
    expect(await counted(partnerId)).toBe(LIMIT + refused.length);
  });
});

describe('who the limit counts', () => {
  let b: TestApp;
  beforeAll(async () => { b = await startTestApp({ RATE_LIMIT_PER_MINUTE: '3' }); });
  afterAll(async () => { await b.close(); });

  const anonymous = (forwardedFor: string) => b.request().post('/graphql').set('content-type', 'application/json')
    .set('x-forwarded-for', forwardedFor).send({ query: NOW });

  test('without TRUST_PROXY, a caller rotating X-Forwarded-For still shares one bucket, and a 429 says when to retry', async () => {
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await anonymous(`198.51.100.${i}`));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    const refused = answers[3]!;
    expect(refused.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.body.errors[0].extensions.retryAfterSeconds).toBe(retryAfter);
  });

  test('requests with a bad token count against their address: guessing past the limit is 429, not 401', async () => {
    // An app of its own: this address's bucket elsewhere in the file is spent.
    const guarded = await startTestApp({ RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const guess = (token: string) => guarded.request().post('/graphql').set('content-type', 'application/json')
        .set('authorization', `Bearer ${token}`).send({ query: NOW });
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await guess(`not-a-token-${i}`));
      expect(answers.map((r) => r.status)).toEqual([401, 401, 401, 429, 429]);
      expect(answers[4]!.body.errors[0].extensions.code).toBe('RATE_LIMITED');
      expect(Number(answers[4]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await guarded.close();
    }
  });

  test('with TRUST_PROXY=1, the address the one proxy forwards is the caller', async () => {
    const proxied = await startTestApp({ RATE_LIMIT_PER_MINUTE: '3', TRUST_PROXY: '1' });
    try {
      const send = (forwardedFor: string) => proxied.request().post('/graphql').set('content-type', 'application/json')
        .set('x-forwarded-for', forwardedFor).send({ query: NOW });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await send('203.0.113.7')).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect((await send('203.0.113.8')).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});
