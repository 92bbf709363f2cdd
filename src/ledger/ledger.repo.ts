import { sql, type Insertable } from 'kysely';
import type { Db } from '../db/database';
import { NIL_UUID } from '../db/ids';
import type { SqlText } from '../db/sql-text';
import { ShapedStatement } from '../db/shaped';
import type { IdempotencyKeyTable, TransactionType } from '../db/schema';
import { memberFromJson, type MemberRow } from '../db/rows';
import type { RowWrite } from './unit-of-work.repo';
import type { TransactionRow } from './ledger.types';

/**
 * A ledger entry as to_json gives it (timestamps as ISO text), typed as the driver types a
 * selected row. The object the driver parsed is converted in place: nothing else holds it.
 */
export function transactionFromJson(json: Record<string, unknown>): TransactionRow {
  json.available_at = new Date(json.available_at as string);
  json.occurred_at = new Date(json.occurred_at as string);
  json.created_at = new Date(json.created_at as string);
  return json as unknown as TransactionRow;
}

/** "Is this idempotency key recorded?", as a unit of work's member read asks it. */
export function keyRecorded(scope: string, key: string): SqlText {
  return { text: 'exists (select 1 from idempotency_keys k where k.scope = $1 and k.key = $2)', values: [scope, key] };
}

export async function idempotencyRecord(db: Db, scope: string, key: string) {
  return db.selectFrom('idempotency_keys').select(['request_hash', 'result', 'operation'])
    .where('scope', '=', scope).where('key', '=', key).executeTakeFirst();
}

export function recordKey(row: Insertable<IdempotencyKeyTable>): RowWrite {
  return { insert: 'idempotency_keys', rows: [row] };
}

/**
 * The next `limit` members after `after` (in id order) holding lots past their expiry. The due
 * lots are read first, through their own index (migration 008): ordered by member instead,
 * PostgreSQL walks every open lot of every member to find the few that are due.
 */
export async function membersWithDueLots(db: Db, now: Date, after: string | null, limit: number): Promise<{ member_id: string }[]> {
  const { rows } = await sql<{ member_id: string }>`
    with due as materialized (
      select member_id from point_lots where remaining > 0 and expires_at is not null and expires_at <= ${now})
    select distinct member_id from due
    where member_id > ${after ?? NIL_UUID}::uuid
    order by member_id limit ${limit}`.execute(db);
  return rows;
}

/** Deletes idempotency records past their retention; returns how many. */
export async function purgeExpiredKeys(db: Db, now: Date): Promise<number> {
  const result = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function findTransaction(db: Db, id: string): Promise<TransactionRow | undefined> {
  return db.selectFrom('points_transactions').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The reversal of redemption `redemptionId`, if there is one. */
export async function reversalOf(db: Db, memberId: string, redemptionId: string) {
  return db.selectFrom('points_transactions').select('id')
    .where('member_id', '=', memberId).where('type', '=', 'REVERSAL').where('related_id', '=', redemptionId).executeTakeFirst();
}

export async function allocationsOf(db: Db, txnId: string) {
  return db
    .selectFrom('lot_allocations as a')
    .innerJoin('point_lots as l', 'l.id', 'a.lot_id')
    .select(['a.lot_id', 'a.points', 'a.kind', 'l.txn_id as lot_txn_id', 'l.expires_at'])
    .where('a.txn_id', '=', txnId)
    .orderBy('l.expires_at')
    .orderBy('a.lot_id')
    .execute();
}

/**
 * Spendable, pending and not-yet-settled expired points at `now`, with the member's aggregates,
 * in one statement: one snapshot, so a write committing mid-read cannot mix two instants.
 */
export async function balanceFigures(db: Db, memberId: string, now: Date) {
  const member = (column: 'debt' | 'lifetime_earned' | 'lifetime_redeemed' | 'expired') =>
    sql<number>`(select ${sql.ref(column)} from members where id = ${memberId})`.as(column);
  return db
    .selectFrom('point_lots')
    .select([
      sql<number>`coalesce(sum(remaining) filter (where available_at <= ${now} and (expires_at is null or expires_at > ${now})), 0)::int`.as('spendable'),
      sql<number>`coalesce(sum(remaining) filter (where available_at > ${now} and (expires_at is null or expires_at > ${now})), 0)::int`.as('pending'),
      sql<number>`coalesce(sum(remaining) filter (where expires_at <= ${now}), 0)::int`.as('lapsed'),
      member('debt'), member('lifetime_earned'), member('lifetime_redeemed'), member('expired'),
    ])
    .where('member_id', '=', memberId)
    .where('remaining', '>', 0)
    .executeTakeFirstOrThrow();
}

/**
 * Member rows with their lot figures, each at its own instant, for many members in one
 * statement (one round trip, one snapshot). Answers in the order asked; undefined where no
 * member has that id.
 */
export async function membersWithLotFigures(db: Db, asks: readonly { id: string; at: Date }[]) {
  const { rows } = await sql<MemberRow & { ord: number; spendable: number; pending: number; lapsed: number }>`
    select q.ord::int as ord, m.*, l.spendable, l.pending, l.lapsed
    from unnest(${asks.map((a) => a.id)}::uuid[], ${asks.map((a) => a.at.toISOString())}::timestamptz[]) with ordinality as q(id, at, ord)
    join members m on m.id = q.id
    cross join lateral (
      select
        coalesce(sum(remaining) filter (where available_at <= q.at and (expires_at is null or expires_at > q.at)), 0)::int as spendable,
        coalesce(sum(remaining) filter (where available_at > q.at and (expires_at is null or expires_at > q.at)), 0)::int as pending,
        coalesce(sum(remaining) filter (where expires_at <= q.at), 0)::int as lapsed
      from point_lots
      where point_lots.member_id = m.id and point_lots.remaining > 0
    ) l`.execute(db);
  const byOrd = new Map(rows.map(({ ord, ...row }) => [ord, row]));
  return asks.map((_, i) => byOrd.get(i + 1));
}

export async function expiringSoon(db: Db, memberId: string, now: Date, until: Date) {
  return db
    .selectFrom('point_lots')
    .select(['expires_at', sql<number>`sum(remaining)::int`.as('points')])
    .where('member_id', '=', memberId)
    .where('remaining', '>', 0)
    .where('expires_at', '>', now)
    .where('expires_at', '<=', until)
    .groupBy('expires_at')
    .orderBy('expires_at')
    .execute();
}

export interface StatementFilter {
  types?: readonly TransactionType[] | null;
  from?: Date | null;
  to?: Date | null;
  partnerId?: string | null;
}

/**
 * A page of the statement (limit + 1 rows, to tell whether more follow) and, computed only if
 * asked for, the total number of entries the filter matches. With `dueAt`, the same statement
 * also asks whether any of the member's lots is due to expire by then (`due`), so the caller
 * can settle them and read the page again. With `withMember`, it reads the member's row too
 * (`member`, undefined where there is no such member).
 */
export async function statement(
  db: Db, memberId: string, filter: StatementFilter, limit: number, beforeSeq?: number, dueAt?: Date, { withMember = false } = {},
) {
  const types = filter.types && filter.types.length > 0 ? filter.types : null;
  const shape: PageShape = {
    types: types !== null, from: Boolean(filter.from), to: Boolean(filter.to), partner: Boolean(filter.partnerId),
    before: beforeSeq !== undefined, due: dueAt !== undefined, member: withMember,
  };
  const values: PageValues = {
    memberId, types, from: filter.from ?? null, to: filter.to ?? null, partnerId: filter.partnerId ?? null,
    beforeSeq: beforeSeq ?? null, limit: limit + 1, dueAt: dueAt ?? null,
  };
  const [read] = await PAGE.execute(db, shape, values);
  if (!read) throw new Error('the statement page returned no row');
  const total = async () => (await COUNT.execute(db, shape, values))[0]?.n ?? 0;
  const member = read.member ? memberFromJson(read.member) : undefined;
  return { rows: read.entries.map(transactionFromJson), total, due: read.due === true, member };
}

/**
 * Which of the page's filters are given, whether it asks about due lots and whether it reads the
 * member's row too: each changes the text.
 */
interface PageShape { types: boolean; from: boolean; to: boolean; partner: boolean; before: boolean; due: boolean; member: boolean }

interface PageValues {
  memberId: string; types: readonly TransactionType[] | null; from: Date | null; to: Date | null; partnerId: string | null;
  beforeSeq: number | null; limit: number; dueAt: Date | null;
}

/**
 * The page as one row: its entries as one JSON array (the driver parses one value instead of
 * setting up a parser per column and a date parser per timestamp), built and compiled once per
 * shape (db/shaped.ts), beside the due-lots check when asked.
 */
/** The entries the page's filters select, as a condition on `p` (the cursor's bound included). */
function pageWhere(v: PageValues, s: PageShape, { cursor }: { cursor: boolean }) {
  const where = [sql`p.member_id = ${v.memberId}`];
  if (s.types) where.push(sql`p.type = any(${v.types}::text[])`);
  if (s.from) where.push(sql`p.occurred_at >= ${v.from}`);
  if (s.to) where.push(sql`p.occurred_at < ${v.to}`);
  if (s.partner) where.push(sql`p.partner_id = ${v.partnerId}`);
  if (cursor && s.before) where.push(sql`p.seq < ${v.beforeSeq}`);
  return sql.join(where, sql` and `);
}

const PAGE = new ShapedStatement<PageValues, PageShape, { due: boolean | null; entries: Record<string, unknown>[]; member?: Record<string, unknown> | null }>(
  (s) => `${+s.types}${+s.from}${+s.to}${+s.partner}${+s.before}${+s.due}${+s.member}`,
  (v, s) => {
    const due = s.due
      ? sql`exists (select 1 from point_lots l where l.member_id = ${v.memberId} and l.remaining > 0 and l.expires_at <= ${v.dueAt})`
      : sql`null::boolean`;
    const member = s.member ? sql`, (select to_json(m) from members m where m.id = ${v.memberId}) as member` : sql``;
    return sql`select ${due} as due${member}, (select coalesce(json_agg(t order by t.seq desc), '[]'::json) from (
        select * from points_transactions p where ${pageWhere(v, s, { cursor: true })} order by p.seq desc limit ${v.limit}) t) as entries`;
  },
);

/** How many entries the page's filters select, whatever the cursor: the connection's totalCount. */
const COUNT = new ShapedStatement<PageValues, PageShape, { n: number }>(
  (s) => `${+s.types}${+s.from}${+s.to}${+s.partner}`,
  (v, s) => sql`select count(*)::int as n from points_transactions p where ${pageWhere(v, s, { cursor: false })}`,
);
