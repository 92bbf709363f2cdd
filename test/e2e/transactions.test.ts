/**
 * Transactions on the database the suite runs against. On PostgreSQL, BEGIN is held back and
 * leaves in one write with the transaction's first statement (db/prepared-pool.ts): these check
 * that what follows is still one transaction, committed or rolled back whole. A transaction's
 * last statement takes the COMMIT with it the same way (db/transaction.ts executeLast).
 */
import { sql } from 'kysely';
import type { Db } from '../../src/db/database';
import { executeLast } from '../../src/db/transaction';
import { type TestApp, startTestApp } from '../support/harness';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await sql`create table tx_probe (id int primary key, note text)`.execute(t.database.db);
});
afterAll(async () => { await t.close(); });

const txid = sql<{ id: string }>`select txid_current()::text as id`;
const notes = async () => (await sql<{ id: number }>`select id from tx_probe order by id`.execute(t.database.db)).rows.map((r) => r.id);

test('every statement of a transaction runs in that one transaction', async () => {
  const ids = await t.database.db.transaction().execute(async (tx) => {
    const first = (await txid.execute(tx)).rows[0]?.id;
    await sql`insert into tx_probe values (${1}, ${'kept'})`.execute(tx);
    const second = (await txid.execute(tx)).rows[0]?.id;
    return [first, second];
  });
  expect(ids[0]).toBeDefined();
  expect(ids[1]).toBe(ids[0]);
  // Outside a transaction each statement is its own.
  const a = (await txid.execute(t.database.db)).rows[0]?.id;
  const b = (await txid.execute(t.database.db)).rows[0]?.id;
  expect(b).not.toBe(a);
  expect(await notes()).toEqual([1]);
});

test('a failure after writes rolls all of them back, the first statement included', async () => {
  await expect(t.database.db.transaction().execute(async (tx) => {
    await sql`insert into tx_probe values (${2}, ${'first'})`.execute(tx);
    await sql`insert into tx_probe values (${3}, ${'second'})`.execute(tx);
    throw new Error('abandon');
  })).rejects.toThrow('abandon');
  expect(await notes()).toEqual([1]);
});

test('a failing first statement leaves the connection usable and nothing written', async () => {
  await expect(t.database.db.transaction().execute(async (tx) => {
    await sql`insert into tx_probe values (${1}, ${'duplicate'})`.execute(tx);
  })).rejects.toMatchObject({ code: '23505' });
  // The pool's connections all still work, in and out of transactions.
  await Promise.all(Array.from({ length: 25 }, (_, i) => t.database.db.transaction().execute(async (tx) => {
    await sql`insert into tx_probe values (${100 + i}, ${'after'})`.execute(tx);
  })));
  expect((await notes()).length).toBe(26);
});

test('a transaction that ran nothing commits and rolls back cleanly', async () => {
  await t.database.db.transaction().execute(async () => undefined);
  await expect(t.database.db.transaction().execute(async () => { throw new Error('nothing ran'); })).rejects.toThrow('nothing ran');
  expect((await txid.execute(t.database.db)).rows).toHaveLength(1);
});

describe('a transaction\'s last statement (executeLast)', () => {
  const probe = (db: Db) => db.withTables<{ tx_probe: { id: number; note: string } }>();
  const insert = (id: number, note: string, db: Db = t.database.db) =>
    probe(db).insertInto('tx_probe').values({ id, note }).returning(sql<string>`txid_current()::text`.as('txid'));

  test('commits the transaction with it: earlier statements and its own rows are kept, in one transaction', async () => {
    const rows = await t.database.db.transaction().execute(async (tx) => {
      const first = (await txid.execute(tx)).rows[0]?.id;
      await sql`insert into tx_probe values (${200}, ${'earlier'})`.execute(tx);
      const last = await executeLast<{ txid: string }>(tx, insert(201, 'last', tx).compile());
      return { first, last: last[0]?.txid };
    });
    expect(rows.last).toBe(rows.first);
    expect(await notes()).toEqual(expect.arrayContaining([200, 201]));
  });

  test('a failing last statement rolls the whole transaction back and its error reaches the caller', async () => {
    await expect(t.database.db.transaction().execute(async (tx) => {
      await sql`insert into tx_probe values (${210}, ${'earlier'})`.execute(tx);
      await executeLast<{ txid: string }>(tx, insert(200, 'duplicate', tx).compile());
    })).rejects.toMatchObject({ code: '23505' });
    expect(await notes()).not.toContain(210);
    // The connections are usable afterwards.
    await Promise.all(Array.from({ length: 12 }, (_, i) => t.database.db.transaction().execute(async (tx) => {
      await executeLast<{ txid: string }>(tx, insert(300 + i, 'after', tx).compile());
    })));
    expect((await notes()).filter((id) => id >= 300)).toHaveLength(12);
  });
});
