import { sql, type Compilable, type Insertable } from 'kysely';
import type { Db } from '../db/database';
import { withDeferred } from '../db/deferred';
import { ShapedStatement } from '../db/shaped';
import { executeLast } from '../db/transaction';
import { forgetLots } from './prefetch';
import type { AllocationKind, PointsTransactionTable, TransactionType } from '../db/schema';
import { memberFromJson, type MemberRow } from '../members/members.repo';
import type { OpenLot } from './ledger.rules';
import type { TransactionRow } from './ledger.types';

/** For a ledger write: whether it is the transaction's last statement (db/transaction.ts executeLast). */
export interface WriteOptions { last?: boolean }

/** Runs a ledger write that returns its entry, as the transaction's last statement when told so. */
async function entryOf(db: Db, query: Compilable<TransactionRow> & { executeTakeFirstOrThrow(): Promise<unknown> }, { last = false }: WriteOptions): Promise<TransactionRow> {
  if (!last) return (await query.executeTakeFirstOrThrow()) as TransactionRow;
  const [row] = await executeLast(db, query);
  if (!row) throw new Error('a ledger write returned no entry');
  return row;
}

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

/** Ledger writes carry the transaction's deferred writes (db/deferred.ts) with them. */
export async function insertTransaction(db: Db, row: Insertable<PointsTransactionTable>, options: WriteOptions = {}): Promise<TransactionRow> {
  return entryOf(db, withDeferred(db).insertInto('points_transactions').values(row).returningAll(), options);
}

export async function findTransaction(db: Db, id: string): Promise<TransactionRow | undefined> {
  return db.selectFrom('points_transactions').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface NewLot {
  id: string; memberId: string; points: number; remaining: number; availableAt: Date; expiresAt: Date | null; earnedAt: Date;
}

/** Writes a credit entry and its lots in one statement (one round trip). */
export async function insertCredit(db: Db, row: Insertable<PointsTransactionTable>, lots: NewLot[], options: WriteOptions = {}): Promise<TransactionRow> {
  forgetLots(db, row.member_id);
  return entryOf(db, withDeferred(db)
    .with('t', (q) => q.insertInto('points_transactions').values(row).returningAll())
    .with('l', (q) =>
      q.insertInto('point_lots').values(lots.map((lot) => ({
        id: lot.id, member_id: lot.memberId, txn_id: row.id, points: lot.points, remaining: lot.remaining,
        available_at: lot.availableAt, expires_at: lot.expiresAt, earned_at: lot.earnedAt,
      }))),
    )
    .selectFrom('t')
    .selectAll(), options);
}

/** Lots with points left that are spendable at `now` (matured, not yet expired). */
export async function spendableLots(db: Db, memberId: string, now: Date): Promise<OpenLot[]> {
  const rows = await db
    .selectFrom('point_lots')
    .select(['id', 'remaining', 'expires_at', 'earned_at'])
    .where('member_id', '=', memberId)
    .where('remaining', '>', 0)
    .where('available_at', '<=', now)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  return rows.map((r) => ({ id: r.id, remaining: r.remaining, expiresAt: r.expires_at, earnedAt: r.earned_at }));
}

export async function lotOfTransaction(db: Db, txnId: string) {
  return db.selectFrom('point_lots').selectAll().where('txn_id', '=', txnId).executeTakeFirst();
}

/** Lots whose expiry has passed but still hold points, grouped by the caller. */
export async function dueLots(db: Db, memberId: string, now: Date) {
  return db
    .selectFrom('point_lots')
    .select(['id', 'remaining', 'expires_at'])
    .where('member_id', '=', memberId)
    .where('remaining', '>', 0)
    .where('expires_at', '<=', now)
    .orderBy('expires_at')
    .orderBy('id')
    .execute();
}

/** Records draws without touching the lots (for lots written with the draw already taken off). */
export async function insertAllocations(
  db: Db, memberId: string, txnId: string, kind: AllocationKind, allocations: { lotId: string; points: number }[],
): Promise<void> {
  if (allocations.length === 0) return;
  await db
    .insertInto('lot_allocations')
    .values(allocations.map((a) => ({ member_id: memberId, txn_id: txnId, lot_id: a.lotId, points: a.points, kind })))
    .execute();
}

/**
 * Writes a debit entry, records which lots it drew from and takes the draws off those lots, in
 * one statement (one round trip) whatever the number of lots.
 */
export async function insertDebit(
  db: Db, row: Insertable<PointsTransactionTable> & { id: string; member_id: string }, kind: AllocationKind,
  allocations: { lotId: string; points: number }[], options: WriteOptions = {},
): Promise<TransactionRow> {
  if (allocations.length === 0) return insertTransaction(db, row, options);
  forgetLots(db, row.member_id);
  const draws = sql.join(allocations.map((a) => sql`(${a.lotId}::uuid, ${a.points}::int)`));
  return entryOf(db, withDeferred(db)
    .with('t', (q) => q.insertInto('points_transactions').values(row).returningAll())
    .with('a', (q) => q.insertInto('lot_allocations').values(allocations.map((a) => ({
      member_id: row.member_id, txn_id: row.id, lot_id: a.lotId, points: a.points, kind,
    }))))
    // A raw CTE body is not parenthesised by the builder.
    .with('u', () => sql`(update point_lots set remaining = point_lots.remaining - d.points
      from (values ${draws}) as d(id, points)
      where point_lots.id = d.id and point_lots.member_id = ${row.member_id})`)
    .selectFrom('t')
    .selectAll(), options);
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

/** Under the inactivity policy all open lots share one expiry: move it. */
export async function setOpenLotsExpiry(db: Db, memberId: string, expiresAt: Date): Promise<void> {
  forgetLots(db, memberId);
  await db.updateTable('point_lots').set({ expires_at: expiresAt }).where('member_id', '=', memberId).where('remaining', '>', 0).execute();
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
