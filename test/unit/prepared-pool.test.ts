import type { Pool } from 'pg';
import { LAST_STATEMENT, PreparingPool } from '../../src/db/prepared-pool';

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

test('parameterless text (COMMIT, migration scripts) runs unnamed, as given', async () => {
  const { pool, calls } = recordingPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('create table t (id int); create index on t (id)', []);
  expect(calls[0]).toEqual(['create table t (id int); create index on t (id)', []]);
});

test('BEGIN is held back and leaves just before the transaction\'s first statement', async () => {
  const { pool, calls } = recordingPool();
  const client = await new PreparingPool(pool).connect();
  expect(await client.query('begin', [])).toMatchObject({ command: 'BEGIN', rows: [] });
  expect(calls).toHaveLength(0);
  await client.query('select * from members where id = $1', ['x']);
  await client.query('commit', []);
  expect(calls.map((args) => (typeof args[0] === 'string' ? args[0] : 'named'))).toEqual(['begin', 'named', 'commit']);
});

test('a transaction that ran no statement sends nothing at all', async () => {
  const { pool, calls } = recordingPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('begin', []);
  expect(await client.query('commit', [])).toMatchObject({ command: 'COMMIT' });
  await client.query('start transaction isolation level serializable', []);
  expect(await client.query('rollback', [])).toMatchObject({ command: 'ROLLBACK' });
  expect(calls).toHaveLength(0);
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

/** A pool whose named queries fail, once, the way PostgreSQL refuses a plan a schema change outdated. */
function stalePlanPool() {
  const calls: unknown[] = [];
  let failNext = false;
  const client = {
    query: async (arg: unknown, values?: unknown[]) => {
      calls.push(arg);
      if (typeof arg === 'object' && failNext) {
        failNext = false;
        throw Object.assign(new Error('cached plan must not change result type'), { code: '0A000' });
      }
      return { rows: [], rowCount: 0, command: 'SELECT', values };
    },
    release: () => undefined,
  };
  const pool = { connect: async () => client, end: async () => undefined } as unknown as Pool;
  return { pool, calls, failNextNamed: () => { failNext = true; } };
}

test('a plan outdated by a schema change: outside a transaction the statement is prepared again under a new name', async () => {
  const { pool, calls, failNextNamed } = stalePlanPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('select * from members where id = $1', ['a']);
  failNextNamed();
  await client.query('select * from members where id = $1', ['a']);
  const names = calls.map((c) => (c as { name: string }).name);
  expect(names).toHaveLength(3);
  expect(names[1]).toBe(names[0]);
  expect(names[2]).not.toBe(names[0]);
});

test('a plan outdated inside a transaction fails the statement (the transaction is retried) and names start over', async () => {
  const { pool, calls, failNextNamed } = stalePlanPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('select * from members where id = $1', ['a']);
  await client.query('begin', []);
  failNextNamed();
  await expect(client.query('select * from members where id = $1', ['a'])).rejects.toMatchObject({ code: '0A000' });
  await client.query('rollback', []);
  await client.query('select * from members where id = $1', ['a']);
  expect(calls.filter((c) => typeof c === 'string')).toEqual(['begin', 'rollback']);
  const named = calls.filter((c) => typeof c === 'object') as { name: string }[];
  expect(named).toHaveLength(3);
  expect(named[2]?.name).not.toBe(named[0]?.name);
});

/** A pool whose client answers each query only when the test says so, recording the order sent. */
function gatedPool() {
  const sent: string[] = [];
  const answers: { text: string; settle: (fail?: Error) => void }[] = [];
  const client = {
    query: (arg: unknown) => {
      const text = typeof arg === 'string' ? arg : (arg as { text: string }).text;
      sent.push(text);
      return new Promise((resolve, reject) => {
        answers.push({ text, settle: (fail) => (fail ? reject(fail) : resolve({ rows: [{ ok: 1 }], rowCount: 1, command: text.split(' ')[0]?.toUpperCase() })) });
      });
    },
    release: () => undefined,
  };
  const pool = { connect: async () => client, end: async () => undefined } as unknown as Pool;
  return { pool, sent, answers };
}

test('a last statement takes the COMMIT with it, before either is answered; the later COMMIT is answered from it', async () => {
  const { pool, sent, answers } = gatedPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('begin', []);
  const statement = client.query(`${LAST_STATEMENT}insert into t values ($1)`, [1]);
  // BEGIN, the statement and COMMIT all left without waiting for an answer.
  expect(sent).toEqual(['begin', `${LAST_STATEMENT}insert into t values ($1)`, 'commit']);
  for (const a of answers) a.settle();
  expect(await statement).toMatchObject({ rows: [{ ok: 1 }] });
  expect(await client.query('commit', [])).toMatchObject({ command: 'COMMIT' });
  expect(sent).toHaveLength(3);
});

test('a failing last statement: its error stands and the rollback that follows sends nothing', async () => {
  const { pool, sent, answers } = gatedPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('begin', []);
  const statement = client.query(`${LAST_STATEMENT}insert into t values ($1)`, [1]);
  answers[0]?.settle();
  answers[1]?.settle(Object.assign(new Error('duplicate key'), { code: '23505' }));
  answers[2]?.settle(); // the server answers the COMMIT of an aborted transaction with ROLLBACK
  await expect(statement).rejects.toMatchObject({ code: '23505' });
  expect(await client.query('rollback', [])).toMatchObject({ command: 'ROLLBACK' });
  expect(sent).toEqual(['begin', `${LAST_STATEMENT}insert into t values ($1)`, 'commit']);
});

test('after a last statement, another statement is refused, and a rollback of committed work says so', async () => {
  const { pool, answers } = gatedPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('begin', []);
  const statement = client.query(`${LAST_STATEMENT}insert into t values ($1)`, [1]);
  for (const a of answers) a.settle();
  await statement;
  await expect(client.query('select $1::int', [1])).rejects.toThrow('after the transaction\'s last statement');
  await expect(client.query('rollback', [])).rejects.toThrow('committed with its last statement');
});

test('a COMMIT after a failed last statement (its error swallowed) is refused, not reported as done', async () => {
  const { pool, answers } = gatedPool();
  const client = await new PreparingPool(pool).connect();
  await client.query('begin', []);
  const statement = client.query(`${LAST_STATEMENT}insert into t values ($1)`, [1]);
  answers[0]?.settle();
  answers[1]?.settle(Object.assign(new Error('duplicate key'), { code: '23505' }));
  answers[2]?.settle();
  await statement.catch(() => undefined);
  await expect(client.query('commit', [])).rejects.toThrow('rolled back');
});
