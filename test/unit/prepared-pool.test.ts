import type { Pool } from 'pg';
import { LAST_STATEMENT, PLANNED_EACH_TIME, PreparingPool, StatementNames } from '../../src/db/prepared-pool';
import { aheadStatement } from '../../src/db/ahead';
import { RateLimitedError } from '../../src/errors';

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

test('a text opening with PLANNED_EACH_TIME runs unnamed every time, so the server plans it on each run', async () => {
  const { pool, calls } = recordingPool();
  const preparing = new PreparingPool(pool);
  const client = await preparing.connect();
  const queue = `${PLANNED_EACH_TIME}select id from webhook_deliveries where status = $1 limit $2`;
  await client.query(queue, ['PENDING', 8]);
  await client.query(queue, ['PENDING', 8]);
  expect(calls).toEqual([[queue, ['PENDING', 8]], [queue, ['PENDING', 8]]]);
  expect(preparing.preparedCount).toBe(0);
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
  const preparing = new PreparingPool(pool, new StatementNames(2));
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

/**
 * A pg client stand-in whose stream records writes: queries submitted between cork and uncork
 * leave in one write. Query results wait until `answer()` when `held` is set.
 */
function writingPool() {
  const writes: string[][] = [];
  let corked: string[] | null = null;
  const label = (args: unknown[]) => (typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text);
  const client = {
    connection: { stream: { cork: () => { corked = []; }, uncork: () => { if (corked) writes.push(corked); corked = null; } } },
    query: async (...args: unknown[]) => {
      if (corked) corked.push(label(args));
      else writes.push([label(args)]);
      return { rows: [{ points: 1 }], rowCount: 1, command: 'SELECT' };
    },
    release: () => undefined,
  };
  const pool = { connect: async () => client, end: async () => undefined } as unknown as Pool;
  return { pool, writes };
}

function owed(verdict: Promise<void> = Promise.resolve()) {
  const answers: unknown[] = [];
  const failures: unknown[] = [];
  return { answers, failures, waiter: { verdict, answer: (r: unknown) => answers.push(r), fail: (e: unknown) => failures.push(e) } };
}

const COUNT = 'insert into rate_limits values ($1, $2, $3) on conflict (key) do update set points = rate_limits.points + 1 returning points';

test('a statement owed ahead leaves in the write of the connection\'s next statement, before its held BEGIN', async () => {
  const { pool, writes } = writingPool();
  const client = await new PreparingPool(pool).connect();
  const count = owed();
  await client.query('begin', []);
  expect(await client.query(aheadStatement(COUNT, ['k', 1, null], count.waiter).sql, ['k', 1, null])).toMatchObject({ rows: [] });
  expect(writes).toEqual([]);
  await client.query('select * from members where id = $1 for update', ['x']);
  await client.query('commit', []);
  expect(writes).toEqual([[COUNT, 'begin', 'select * from members where id = $1 for update'], ['commit']]);
  expect(count.answers).toEqual([{ rows: [{ points: 1 }], rowCount: 1, command: 'SELECT' }]);
});

test('after a refused count, every later statement on the connection fails with the refusal; ROLLBACK still goes', async () => {
  const { pool, writes } = writingPool();
  const client = await new PreparingPool(pool).connect();
  const refusal = new RateLimitedError();
  const verdict = Promise.reject(refusal);
  verdict.catch(() => undefined);
  await client.query('begin', []);
  await client.query(aheadStatement(COUNT, ['k', 1, null], owed(verdict).waiter).sql, ['k', 1, null]);
  await client.query('select * from members where id = $1 for update', ['x']);
  await expect(client.query('update members set name = $1 where id = $2', ['n', 'x'])).rejects.toBe(refusal);
  await expect(client.query('commit', [])).rejects.toBe(refusal);
  await client.query('rollback', []);
  expect(writes.flat()).toEqual([COUNT, 'begin', 'select * from members where id = $1 for update', 'rollback']);
});

test('a last statement, which takes the COMMIT with it, waits for the count\'s verdict: the count goes alone first', async () => {
  const { pool, writes } = writingPool();
  const client = await new PreparingPool(pool).connect();
  let allow!: () => void;
  const verdict = new Promise<void>((resolve) => (allow = resolve));
  await client.query('begin', []);
  await client.query(aheadStatement(COUNT, ['k', 1, null], owed(verdict).waiter).sql, ['k', 1, null]);
  const last = client.query(`${LAST_STATEMENT}insert into t values ($1)`, [1]);
  await new Promise((r) => setImmediate(r));
  expect(writes).toEqual([[COUNT]]);
  allow();
  await last;
  expect(writes).toEqual([[COUNT], ['begin', `${LAST_STATEMENT}insert into t values ($1)`, 'commit']]);
});

test('what is owed still goes when the transaction ran nothing, or when the connection is released unused', async () => {
  const { pool, writes } = writingPool();
  const preparing = new PreparingPool(pool);
  const first = await preparing.connect();
  const a = owed();
  await first.query('begin', []);
  await first.query(aheadStatement(COUNT, ['a', 1, null], a.waiter).sql, ['a', 1, null]);
  await first.query('rollback', []);
  expect(writes).toEqual([[COUNT]]);
  expect(a.answers).toHaveLength(1);
  const second = await preparing.connect();
  const b = owed();
  await second.query(aheadStatement(COUNT, ['b', 1, null], b.waiter).sql, ['b', 1, null]);
  second.release();
  await new Promise((r) => setImmediate(r));
  expect(writes).toEqual([[COUNT], [COUNT]]);
  expect(b.answers).toHaveLength(1);
});
