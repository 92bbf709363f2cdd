/**
 * The connections that concurrent requests share for statements that stand alone
 * (db/pipelined-pool.ts): on PostgreSQL, statements of one turn leave together on one
 * connection and commit together, yet each fails alone, and none waits long for a row lock;
 * PGlite, with its one connection, runs them where everything else runs. Last, how long the
 * pool keeps an idle connection.
 */
import { sql } from 'kysely';
import { type TestApp, startTestApp } from '../support/harness';
import { inTransaction } from '../../src/db/transaction';
import { DEFAULT_PROGRAM, PURCHASE, enroll, expectLedgerTrue, key, ok, updateProgram, waitUntilBlockedBy } from './ledger-fixtures';
import { onServer, serverTest } from '../support/on-server';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ DB_PIPELINED_CONNECTIONS: '2', DB_COMMIT_GROUP: '4' }); });
afterAll(async () => { await t.close(); });

const pgliteTest = onServer ? test.skip : test;

pgliteTest('on PGlite, statements that stand alone run on its one connection', () => {
  expect(t.database.statements).toBe(t.database.db);
});

const backend = async (db = t.database.statements) => (await sql<{ pid: number; txid: string }>`select pg_backend_pid() as pid, txid_current()::text as txid`.execute(db)).rows[0];

const probe = async (table: string, ids: number[]) => {
  await sql`create table ${sql.table(table)} (id int primary key, n int not null default 0)`.execute(t.database.db);
  for (const id of ids) await sql`insert into ${sql.table(table)} (id) values (${id}::int)`.execute(t.database.db);
};
const rowsOf = async (table: string) => (await sql<{ id: number; n: number }>`select id, n from ${sql.table(table)} order by id`.execute(t.database.db)).rows;

serverTest('statements that stand alone run on shared connections on a server', async () => {
  expect(t.config.dbPipelinedConnections).toBe(2);
  expect(t.config.dbCommitGroup).toBe(4);
  expect(t.database.statements).not.toBe(t.database.db);
  // Six at once, in groups of at most four: a group of four on one connection, the other two on
  // the other. None waits for a checkout.
  const rows = await Promise.all(Array.from({ length: 6 }, () => backend()));
  const pids = rows.map((r) => r?.pid);
  const txids = rows.map((r) => r?.txid);
  expect(new Set(pids).size).toBe(2);
  expect(pids.slice(0, 4).every((pid) => pid === pids[0])).toBe(true);
  expect(pids[4]).toBe(pids[5]);
  expect(pids[4]).not.toBe(pids[0]);
  // Each group is one transaction.
  expect(new Set(txids.slice(0, 4)).size).toBe(1);
  expect(new Set(txids.slice(4)).size).toBe(1);
  expect(txids[4]).not.toBe(txids[0]);
  const own = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(t.database.db)).rows[0]?.pid;
  expect(pids).not.toContain(own);
  // Their statements keep one generic plan each and join by nested loops; the pool's are the server's to choose.
  const planner = async (db: typeof t.database.db) => (await sql<{ mode: string; hash: string; merge: string }>`select
    current_setting('plan_cache_mode') as mode, current_setting('enable_hashjoin') as hash, current_setting('enable_mergejoin') as merge`.execute(db)).rows[0];
  expect(await planner(t.database.statements)).toEqual({ mode: 'force_generic_plan', hash: 'off', merge: 'off' });
  expect(await planner(t.database.db)).toEqual({ mode: 'auto', hash: 'on', merge: 'on' });
});

serverTest('with DB_COMMIT_GROUP=1 each statement is its own transaction, though several leave in one write', async () => {
  const alone = await startTestApp({ DB_PIPELINED_CONNECTIONS: '2', DB_COMMIT_GROUP: '1' });
  try {
    const rows = await Promise.all(Array.from({ length: 5 }, () => backend(alone.database.statements)));
    expect(new Set(rows.map((r) => r?.pid)).size).toBe(2);
    expect(new Set(rows.map((r) => r?.txid)).size).toBe(5);
  } finally {
    await alone.close();
  }
});

test('a statement of a group is answered only once the group has committed', async () => {
  await probe('pipelined_commit', []);
  const seen: { id: number; n: number }[][] = [];
  await Promise.all([
    sql`insert into pipelined_commit (id) values (${1}::int)`.execute(t.database.statements)
      .then(async () => { seen.push(await rowsOf('pipelined_commit')); }),
    // Holds the group open: were the insert answered before the commit, another connection would not see its row.
    sql`select pg_sleep(${0.3}::float8)`.execute(t.database.statements),
  ]);
  expect(seen).toEqual([[{ id: 1, n: 0 }]]);
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

test('a write that fails rolls back alone; those beside it, before and after it, commit', async () => {
  await probe('pipelined_probe', [1]);
  const results = await Promise.allSettled([
    sql`insert into pipelined_probe (id) values (${4}::int)`.execute(t.database.statements),
    sql`insert into pipelined_probe (id) values (${2}::int), (${1}::int)`.execute(t.database.statements),
    sql`insert into pipelined_probe (id) values (${3}::int)`.execute(t.database.statements),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23505' });
  expect((await rowsOf('pipelined_probe')).map((r) => r.id)).toEqual([1, 3, 4]);
});

test('a group that waits long for a row lock gives up, and its statements run alone: the free one at once, the other gives up too and writes nothing', async () => {
  await probe('pipelined_locked', [1]);
  let released = false;
  let freeAnswered: boolean | undefined;
  let locked: Promise<PromiseSettledResult<unknown>> | undefined;
  let free: Promise<unknown> | undefined;
  await t.database.db.transaction().execute(async (tx) => {
    await sql`select id from pipelined_locked where id = ${1}::int for update`.execute(tx);
    [locked, free] = [
      sql`update pipelined_locked set n = n + 1 where id = ${1}::int`.execute(t.database.statements).then(
        (value) => ({ status: 'fulfilled' as const, value }), (reason: unknown) => ({ status: 'rejected' as const, reason })),
      sql`insert into pipelined_locked (id) values (${2}::int)`.execute(t.database.statements).then(() => {
        freeAnswered = !released;
      }),
    ];
    // Holds the lock far longer than a shared connection waits for one (LOCK_TIMEOUT, 100 ms).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    released = true;
  });
  await free;
  const outcome = await locked;
  if (onServer) {
    expect(freeAnswered).toBe(true);
    // Alone, the locked statement gave up as well: lock_not_available, nothing written.
    expect(outcome).toMatchObject({ status: 'rejected', reason: { code: '55P03' } });
    expect(await rowsOf('pipelined_locked')).toEqual([{ id: 1, n: 0 }, { id: 2, n: 0 }]);
  } else {
    // PGlite's one connection ran both after the transaction, and nothing waited for a lock.
    expect(outcome).toMatchObject({ status: 'fulfilled' });
    expect(await rowsOf('pipelined_locked')).toEqual([{ id: 1, n: 1 }, { id: 2, n: 0 }]);
  }
});

test('on one shared connection, a purchase whose member another transaction holds gives way to the locked way, and the purchases behind it are answered meanwhile', async () => {
  const app = await startTestApp({ DB_PIPELINED_CONNECTIONS: '1' });
  try {
    await updateProgram(app, DEFAULT_PROGRAM);
    const [held, other] = [await enroll(app, 'pipelined'), await enroll(app, 'pipelined')];
    const buy = (memberId: string) => app.gql(PURCHASE, { input: { memberId, orderId: key('order'), amount: '10.00', currency: 'USD' } });
    let released = false;
    let otherAnswered: boolean | undefined;
    let heldPurchase: ReturnType<typeof buy> | undefined;
    let otherPurchase: Promise<unknown> | undefined;
    await inTransaction(app.database.db, async (tx) => {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid from members where id = ${held} for update`.execute(tx);
      heldPurchase = buy(held);
      if (app.database.kind === 'postgres') await waitUntilBlockedBy(app, rows[0]!.pid);
      // Sent once the first purchase's statement waits on the shared connection, so it leaves behind it.
      otherPurchase = buy(other).then((res) => {
        otherAnswered = !released;
        return ok(res);
      });
      // Far longer than the shared connection waits for a lock (LOCK_TIMEOUT, 100 ms).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      released = true;
    });
    await otherPurchase;
    expect(ok(await heldPurchase!).recordPurchase).toMatchObject({ pointsEarned: 10, member: { balance: { available: 10 } } });
    if (app.database.kind === 'postgres') expect(otherAnswered).toBe(true);
    for (const memberId of [held, other]) {
      const { rows } = await sql<{ type: string; points: number }>`select type, points from points_transactions where member_id = ${memberId}`.execute(app.database.db);
      expect(rows).toEqual([{ type: 'PURCHASE', points: 10 }]);
    }
    await expectLedgerTrue(app, [held, other]);
  } finally {
    await app.close();
  }
});

test('two groups that lock the same rows in opposite orders both complete, every write once', async () => {
  await probe('pipelined_crossed', [1, 2]);
  const bump = (id: number) => sql`update pipelined_crossed set n = n + 1 where id = ${id}::int`.execute(t.database.statements);
  const nap = () => sql`select pg_sleep(${0.2}::float8)`.execute(t.database.statements);
  const first = Promise.all([bump(1), nap(), bump(2)]);
  // Statements sent once the first group has left form a second group, on the other connection:
  // each group then holds one row and waits for the other's.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const second = Promise.all([bump(2), nap(), bump(1)]);
  await Promise.all([first, second]);
  expect(await rowsOf('pipelined_crossed')).toEqual([{ id: 1, n: 2 }, { id: 2, n: 2 }]);
});

serverTest('a group whose connection is lost before its commit is answered fails, and none of its statements runs again', async () => {
  await probe('pipelined_lost', []);
  const group = Promise.allSettled([
    sql`insert into pipelined_lost (id) values (${1}::int)`.execute(t.database.statements),
    sql`select pg_sleep(${5}::float8) as slept`.execute(t.database.statements),
    sql`insert into pipelined_lost (id) values (${2}::int)`.execute(t.database.statements),
  ]);
  // The backend running the group, found while it sleeps, is terminated from another connection.
  let pid: number | undefined;
  for (let i = 0; i < 100 && pid === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    pid = (await sql<{ pid: number }>`select pid from pg_stat_activity where query like ${'%pg_sleep%slept%'} and pid <> pg_backend_pid()`.execute(t.database.db)).rows[0]?.pid;
  }
  expect(pid).toEqual(expect.any(Number));
  await sql`select pg_terminate_backend(${pid}::int)`.execute(t.database.db);
  const results = await group;
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
  expect(await rowsOf('pipelined_lost')).toEqual([]);
});

serverTest('a transaction cannot be opened on a shared connection', async () => {
  await expect(t.database.statements.transaction().execute(async () => 1)).rejects.toThrow(/not transactions/);
  expect((await backend())?.pid).toEqual(expect.any(Number));
});

serverTest('a shared connection the server drops is opened again for the next statement', async () => {
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

serverTest('an idle pool connection stays open for DB_POOL_IDLE_MS, and is closed after it', async () => {
  expect(t.config.dbPoolIdleMs).toBe(300_000);
  const brief = await startTestApp({ DB_POOL_IDLE_MS: '100' });
  try {
    const pidOf = async (db: typeof t.database.db) => (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]?.pid;
    const [kept, dropped] = [await pidOf(t.database.db), await pidOf(brief.database.db)];
    await new Promise((resolve) => setTimeout(resolve, 600));
    // The default keeps the connection (and its prepared statements); 100 ms lets it go.
    expect(await pidOf(t.database.db)).toBe(kept);
    const after = await pidOf(brief.database.db);
    expect(after).toEqual(expect.any(Number));
    expect(after).not.toBe(dropped);
  } finally {
    await brief.close();
  }
});
