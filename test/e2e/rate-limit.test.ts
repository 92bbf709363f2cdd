import { startTestApp, codes, type TestApp } from '../support/harness';

const NOW = '{ now }';

describe('rate limiting', () => {
  let a: TestApp;
  beforeAll(async () => { a = await startTestApp({ RATE_LIMIT_PER_MINUTE: '5' }); });
  afterAll(async () => { await a.close(); });

  test('a caller past its limit gets RATE_LIMITED with HTTP 429; other callers are unaffected', async () => {
    const partner = a.token({ role: 'PARTNER', partnerId: 'p-limit' });
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
    const { sql } = await import('kysely');
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
