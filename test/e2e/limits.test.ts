import { Writable } from 'node:stream';
import pino from 'pino';
import { sql } from 'kysely';
import { Pool } from 'pg';
import type { Clock } from '../../src/clock/clock';
import { openDatabase, type Db } from '../../src/db/database';
import { eventually } from '../support/eventually';
import { startTestApp, codes, type TestApp } from '../support/harness';
import { serverTest } from '../support/on-server';

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

describe('connections the database server closes', () => {
  const ENROLL = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`;
  const PURCHASE = `mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { pointsEarned member { balance { available pending } } } }`;

  /** The server processes behind `db`'s connections: several at once, so the pool holds several. */
  async function backends(db: Db, at = 6): Promise<number[]> {
    const rows = await Promise.all(Array.from({ length: at }, () => sql<{ pid: number }>`select pg_backend_pid() as pid, pg_sleep(0.05)`.execute(db)));
    return [...new Set(rows.map((r) => Number(r.rows[0]!.pid)))];
  }

  /** Closes those connections from the server's side, as a restart or an administrator would, and waits until they are gone. */
  async function terminate(pids: number[]): Promise<void> {
    const admin = new Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 1 });
    try {
      await admin.query('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids]);
      await eventually('the connections are closed', async () =>
        (await admin.query('select count(*)::int as n from pg_stat_activity where pid = any($1::int[])', [pids])).rows[0].n === 0);
    } finally {
      await admin.end();
    }
  }

  serverTest('the API carries on: the pool opens new connections and the next requests are served', async () => {
    const t = await startTestApp();
    try {
      const { id } = (await t.gql(ENROLL, { input: { externalId: 'closed-conn' } })).data!.enrollMember;
      const pids = [...(await backends(t.database.db)), ...(await backends(t.database.statements, 2))];
      expect(pids.length).toBeGreaterThan(2);
      await terminate(pids);
      // Idle connections closed under it are 'error' events on the pools: unheard, Node would
      // have ended this process (the test's) here.
      const bought = await t.gql(PURCHASE, { input: { memberId: id, orderId: 'after-close', amount: '25.00', currency: 'USD' } });
      expect(bought.errors).toBeUndefined();
      expect(bought.data!.recordPurchase).toEqual({ pointsEarned: 25, member: { balance: { available: 25, pending: 0 } } });
      expect((await t.request().get('/readyz')).status).toBe(200);
      const fresh = await backends(t.database.db);
      expect(fresh.filter((pid) => pids.includes(pid))).toEqual([]);
    } finally {
      await t.close();
    }
  });

  serverTest('a connection closed while a transaction holds it fails that transaction alone, is reported once, and the pool goes on', async () => {
    const t = await startTestApp();
    const lost: Error[] = [];
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(t.database.db)).rows[0]!.s;
    const database = await openDatabase(t.config.database, { schema, poolSize: 2, migrate: false, onConnectionLost: (error) => lost.push(error) });
    try {
      await sql`create table written_before_close (note text)`.execute(database.db);
      const outcome = await database.db.transaction().execute(async (tx) => {
        await sql`insert into written_before_close values ('held when closed')`.execute(tx);
        const pid = Number((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx)).rows[0]!.pid);
        await terminate([pid]);
        // The server's farewell reaches the client between two statements: no query is there
        // to fail, so it is an 'error' event on a client lent out of its pool.
        await eventually('the loss reported', () => lost.length > 0);
        await sql`select 1`.execute(tx);
      }).then(() => 'committed', (error: Error) => error.message);
      expect(outcome).not.toBe('committed');
      expect(lost.map((e) => e.message)).toEqual(['terminating connection due to administrator command']);
      const held = await sql<{ n: number }>`select count(*)::int as n from written_before_close`.execute(database.db);
      expect(held.rows).toEqual([{ n: 0 }]);
    } finally {
      await database.close();
      await t.close();
    }
  });

  serverTest('each idle connection lost, of the pool or the shared statements, is reported once to onConnectionLost (main.ts logs it)', async () => {
    const t = await startTestApp();
    const lost: Error[] = [];
    const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(t.database.db)).rows[0]!.s;
    const database = await openDatabase(t.config.database, { schema, poolSize: 3, pipelinedConnections: 1, migrate: false, onConnectionLost: (error) => lost.push(error) });
    try {
      const pids = [...(await backends(database.db, 3)), ...(await backends(database.statements, 1))];
      expect(pids).toHaveLength(4);
      await terminate(pids);
      await eventually('every closed connection reported', () => lost.length === pids.length);
      expect(lost.map((e) => e.message)).toEqual(pids.map(() => 'terminating connection due to administrator command'));
      expect((await sql<{ n: number }>`select 1 as n`.execute(database.db)).rows).toEqual([{ n: 1 }]);
      expect((await sql<{ n: number }>`select 2 as n`.execute(database.statements)).rows).toEqual([{ n: 2 }]);
    } finally {
      await database.close();
      await t.close();
    }
  });
});
