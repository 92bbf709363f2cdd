/**
 * The connections that concurrent requests share for statements that stand alone
 * (db/pipelined-pool.ts): on PostgreSQL, statements of one turn leave together on one
 * connection yet each is its own transaction and fails alone; PGlite, with its one
 * connection, runs them where everything else runs.
 */
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ DB_PIPELINED_CONNECTIONS: '2' }); });
afterAll(async () => { await t.close(); });

const onServer = Boolean(process.env.TEST_DATABASE_URL);

const backend = async () => (await sql<{ pid: number; txid: string }>`select pg_backend_pid() as pid, txid_current()::text as txid`.execute(t.database.statements)).rows[0];

test('statements that stand alone run on shared connections on a server, and on the one connection on PGlite', async () => {
  expect(t.config.dbPipelinedConnections).toBe(2);
  if (!onServer) {
    expect(t.database.statements).toBe(t.database.db);
    return;
  }
  expect(t.database.statements).not.toBe(t.database.db);
  // Five at once over two connections: each connection carries several, none waits for a checkout.
  const rows = await Promise.all(Array.from({ length: 5 }, () => backend()));
  expect(new Set(rows.map((r) => r?.pid)).size).toBe(2);
  // Each is its own transaction, though several left in one write.
  expect(new Set(rows.map((r) => r?.txid)).size).toBe(5);
  const own = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(t.database.db)).rows[0]?.pid;
  expect(rows.map((r) => r?.pid)).not.toContain(own);
});

test('a statement that fails fails alone: those sent beside it on its connection are answered', async () => {
  const results = await Promise.allSettled([
    sql<{ n: number }>`select 1 as n`.execute(t.database.statements),
    sql<{ n: number }>`select 1 / (${0}::int) as n`.execute(t.database.statements),
    sql<{ n: number }>`select 3 as n`.execute(t.database.statements),
    sql<{ n: number }>`select 4 as n`.execute(t.database.statements),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0]?.n : (r.reason as { code?: string }).code)))
    .toEqual([1, '22012', 3, 4]);
});

test('a write that fails rolls back alone; the one beside it commits', async () => {
  await sql`create table if not exists pipelined_probe (id int primary key)`.execute(t.database.db);
  await sql`insert into pipelined_probe values (1)`.execute(t.database.db);
  const results = await Promise.allSettled([
    sql`insert into pipelined_probe values (${2}::int), (${1}::int)`.execute(t.database.statements),
    sql`insert into pipelined_probe values (${3}::int)`.execute(t.database.statements),
  ]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
  const ids = (await sql<{ id: number }>`select id from pipelined_probe order by id`.execute(t.database.db)).rows.map((r) => r.id);
  expect(ids).toEqual([1, 3]);
});

test('a transaction cannot be opened on a shared connection', async () => {
  if (!onServer) return expect(t.database.statements).toBe(t.database.db);
  await expect(t.database.statements.transaction().execute(async () => 1)).rejects.toThrow(/not transactions/);
  expect((await backend())?.pid).toEqual(expect.any(Number));
});

test('a shared connection the server drops is opened again for the next statement', async () => {
  if (!onServer) return expect(t.database.statements).toBe(t.database.db);
  const before = await backend();
  await sql`select pg_terminate_backend(${before?.pid}::int)`.execute(t.database.db);
  // The statement that meets the dropped connection may fail; the next one runs on a new one.
  let after = await backend().catch(() => undefined);
  for (let i = 0; i < 20 && (after === undefined || after.pid === before?.pid); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    after = await backend().catch(() => undefined);
  }
  expect(after?.pid).toEqual(expect.any(Number));
  expect(after?.pid).not.toBe(before?.pid);
});
