import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type CompiledQuery, type DatabaseConnection, type Driver } from 'kysely';
import type { Db } from '../../src/db/database';
import { ShapedStatement } from '../../src/db/shaped';

/** A Kysely whose driver records each query it is handed and answers with no rows. */
function recordingDb(): { db: Db; queries: CompiledQuery[] } {
  const queries: CompiledQuery[] = [];
  const connection: DatabaseConnection = {
    executeQuery: async (query) => {
      queries.push(query);
      return { rows: [] };
    },
    streamQuery: () => { throw new Error('not used'); },
  };
  const driver: Driver = {
    init: async () => undefined, destroy: async () => undefined, acquireConnection: async () => connection,
    beginTransaction: async () => undefined, commitTransaction: async () => undefined, rollbackTransaction: async () => undefined,
    releaseConnection: async () => undefined,
  };
  const db = new Kysely<any>({ dialect: {
    createAdapter: () => new PostgresAdapter(), createDriver: () => driver,
    createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler(),
  } }) as unknown as Db;
  return { db, queries };
}

interface Values { id: string; at: Date; points: number }

test('a shape is compiled once; every call sends the same text with its own values in their places, each value once', async () => {
  const { db, queries } = recordingDb();
  let built = 0;
  const statement = new ShapedStatement<Values, { strict: boolean }, unknown>((s) => String(s.strict), (v, { strict }) => {
    built++;
    return sql`select ${v.id}::uuid, ${v.points}::int where ${v.at} < now() ${strict ? sql`and ${v.points} > 0` : sql``}`;
  });
  const at = new Date('2026-01-01T00:00:00Z');
  await statement.execute(db, { strict: true }, { id: 'a', at, points: 5 });
  await statement.execute(db, { strict: true }, { id: 'b', at, points: 7 });
  await statement.execute(db, { strict: false }, { id: 'c', at, points: 9 });
  expect(built).toBe(2);
  expect(statement.shapes).toBe(2);
  expect(queries.map((q) => q.sql)).toEqual([
    'select $1::uuid, $2::int where $3 < now() and $2 > 0',
    'select $1::uuid, $2::int where $3 < now() and $2 > 0',
    'select $1::uuid, $2::int where $3 < now() ',
  ]);
  expect(queries.map((q) => q.parameters)).toEqual([['a', 5, at], ['b', 7, at], ['c', 9, at]]);
});

test('a value interpolated from outside the statement\'s values is refused, not frozen into the cache', async () => {
  const { db, queries } = recordingDb();
  const outside = 'frozen';
  const statement = new ShapedStatement<Values, null, unknown>(() => '', (v) => sql`select ${v.id}, ${outside}`);
  await expect(statement.execute(db, null, { id: 'a', at: new Date(), points: 1 })).rejects.toThrow('value $2 of a shaped statement was not read from its values');
  expect(queries).toHaveLength(0);
  expect(statement.shapes).toBe(0);
});

test('a value the call leaves out is an error, not a null sent to the database', async () => {
  const { db, queries } = recordingDb();
  const statement = new ShapedStatement<Values, null, unknown>(() => '', (v) => sql`select ${v.id}, ${v.points}`);
  await expect(statement.execute(db, null, { id: 'a', at: new Date() } as Values)).rejects.toThrow('value points was not given');
  expect(queries).toHaveLength(0);
});
