import { sql, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { DB } from './schema';

/** The tables whose rows page newest first: each has a creation instant and an id. */
type Dated = { [T in keyof DB]: DB[T] extends { created_at: unknown; id: unknown } ? T : never }[keyof DB];

/**
 * A page of `query`'s rows (of one table, whose created_at and id it names unqualified) newest
 * first, by creation instant then id, after the row `after` names (its created_at and id, from a
 * cursor): `limit` + 1 rows, the last telling whether more follow.
 */
export function newestFirst<T extends Dated, O>(
  query: SelectQueryBuilder<DB, T, O>, limit: number, after?: readonly [Date, string],
): Promise<O[]> {
  const page = after ? query.where(sql<SqlBool>`(created_at, id) < (${after[0]}, ${after[1]})`) : query;
  return page.orderBy(sql.ref('created_at'), 'desc').orderBy(sql.ref('id'), 'desc').limit(limit + 1).execute();
}
