import type { Pool } from 'pg';
import { PreparingPool } from '../../src/db/prepared-pool';

/** A pg pool stand-in that records what the wrapper hands to `client.query`. */
function recordingPool() {
  const calls: unknown[][] = [];
  let released = 0;
  const client = {
    query: async (...args: unknown[]) => {
      calls.push(args);
      return { rows: [], rowCount: 0, command: 'SELECT' };
    },
    release: () => { released++; },
  };
  const pool = { connect: async () => client, end: async () => undefined } as unknown as Pool;
  return { pool, calls, released: () => released };
}

test('the same parameterised text always runs under one name; different texts get different names', async () => {
  const { pool, calls } = recordingPool();
  const preparing = new PreparingPool(pool);
  const a = await preparing.connect();
  const b = await preparing.connect();
  await a.query('select * from members where id = $1', ['x']);
  await b.query('select * from members where id = $1', ['y']);
  await a.query('select * from point_lots where member_id = $1', ['x']);
  const names = calls.map((args) => (args[0] as { name: string }).name);
  expect(names[0]).toBe(names[1]);
  expect(names[2]).not.toBe(names[0]);
  expect(calls[1]?.[0]).toEqual({ name: names[0], text: 'select * from members where id = $1', values: ['y'] });
  expect(preparing.preparedCount).toBe(2);
});

test('parameterless text (BEGIN, COMMIT, migration scripts) runs unnamed, as given', async () => {
  const { pool, calls } = recordingPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('begin', []);
  expect(calls[0]).toEqual(['begin', []]);
});

test('past the limit of distinct texts, new texts run unnamed and named ones keep their names', async () => {
  const { pool, calls, released } = recordingPool();
  const preparing = new PreparingPool(pool, 2);
  const client = await preparing.connect();
  await client.query('select $1::int', [1]);
  await client.query('select $1::int + 1', [1]);
  await client.query('select $1::int + 2', [1]);
  await client.query('select $1::int', [2]);
  expect(calls[2]).toEqual(['select $1::int + 2', [1]]);
  expect((calls[3]?.[0] as { name: string }).name).toBe((calls[0]?.[0] as { name: string }).name);
  expect(preparing.preparedCount).toBe(2);
  client.release();
  expect(released()).toBe(1);
});
