import { CompiledQuery, sql, type Insertable, type RawBuilder, type Selectable } from 'kysely';
import type { SqlText } from '../db/sql-text';
import type { Db } from '../db/database';
import type { MemberTierTable, StreakPeriod, TierHistoryTable } from '../db/schema';
import type { Activity, RowWrite } from '../ledger/unit-of-work';
import { toUnits } from '../money';
import { NIL_UUID } from '../db/ids';
import type { Metrics, Window } from './tiers.rules';

export type MemberTierRow = Selectable<MemberTierTable>;
export type TierHistoryRow = Selectable<TierHistoryTable>;

/**
 * Qualifying points, spend and purchases in a window of the member `member` (an SQL expression:
 * a placeholder or a column such as m.id), the window being [$from, $to) and only entries known
 * at $knownAt counted (the placeholders' names as given). A refund counts against the window of
 * the purchase it refunds. One row: qp, spend (text), purchases.
 *
 * The qualifying points come in two parts, so the cost follows the window, not the member's
 * whole history: entries other than refunds by their own date (a range of
 * points_transactions_member_occurred_idx), and the member's refunds
 * (points_transactions_refund_idx) by the date of the purchase each refunds.
 */
function metricsText(member: string, from: string, to: string, knownAt: string): string {
  return `
    select p.qp, o.spend, o.purchases
    from (
      select coalesce(sum(x.qualifying_points), 0)::int as qp from (
        select t.qualifying_points from points_transactions t
        where t.member_id = ${member} and t.type <> 'REFUND' and not t.cancelled and t.created_at <= ${knownAt}
          and t.occurred_at >= ${from} and t.occurred_at < ${to}
        union all
        select t.qualifying_points from points_transactions t
        left join points_transactions p on p.id = t.related_id
        where t.member_id = ${member} and t.type = 'REFUND' and not t.cancelled and t.created_at <= ${knownAt}
          and coalesce(p.occurred_at, t.occurred_at) >= ${from} and coalesce(p.occurred_at, t.occurred_at) < ${to}
      ) x
    ) p
    cross join (
      select coalesce(sum(o.amount - coalesce(r.refunded, 0)), 0)::text as spend,
        (count(*) filter (where o.amount > coalesce(r.refunded, 0)))::int as purchases
      from orders o
      left join lateral (select sum(amount) as refunded from refunds
        where refunds.order_id = o.order_id and refunds.created_at <= ${knownAt}) r on true
      where o.member_id = ${member} and o.created_at <= ${knownAt} and o.occurred_at >= ${from} and o.occurred_at < ${to}
    ) o`;
}

/** The member's figures in window `w` as known at `knownAt` (metricsText). */
async function storedMetrics(db: Db, memberId: string, w: Window, knownAt: Date): Promise<MetricsRow | undefined> {
  return (await db.executeQuery<MetricsRow>(CompiledQuery.raw(METRICS, [memberId, w.from, w.to, knownAt]))).rows[0];
}

const METRICS = metricsText('$1::uuid', '$2::timestamptz', '$3::timestamptz', '$4::timestamptz');

export interface MetricsRow { qp: number; spend: string; purchases: number }

export const metricsOfRow = (row: MetricsRow | undefined): Metrics =>
  ({ points: row?.qp ?? 0, spendCents: row ? Number(toUnits(row.spend, 2)) : 0, purchases: row?.purchases ?? 0 });

/**
 * Where the tier engine reads: the database, and inside a unit of work (ledger/unit-of-work.ts)
 * the activity it has planned but not written, and what the member read took for the engine.
 */
export interface TierReads {
  readonly db: Db;
  unwritten?(memberId: string): readonly Activity[];
  known?<T>(memberId: string, key: string): T | undefined;
}

/** The key under which the member read takes the metrics of window `w` at `knownAt` (tiers.service.ts tierStatusRules). */
export const metricsKey = (w: Window, knownAt: Date) => `metrics/${w.from.getTime()}/${w.to.getTime()}/${knownAt.getTime()}`;

/**
 * metricsQuery's figures, plus the activity the unit of work is about to write. Figures the
 * member read took for exactly this window and instant stand in for the query.
 */
export async function metrics(reads: TierReads, memberId: string, w: Window, knownAt: Date): Promise<Metrics> {
  const known = reads.known?.<MetricsRow | null>(memberId, metricsKey(w, knownAt));
  const stored = metricsOfRow(known ?? (await storedMetrics(reads.db, memberId, w, knownAt)));
  for (const e of reads.unwritten?.(memberId) ?? []) {
    const part = partIn(e, w, knownAt);
    stored.points += part.points;
    stored.spendCents += part.spendCents;
    stored.purchases += part.purchases;
  }
  return stored;
}

/** What activity not yet written adds to the figures of window `w` as known at `knownAt`. */
export function partIn(e: Activity, w: Window, knownAt: Date): Metrics {
  if (e.createdAt.getTime() > knownAt.getTime() || e.occurredAt.getTime() < w.from.getTime() || e.occurredAt.getTime() >= w.to.getTime()) {
    return { points: 0, spendCents: 0, purchases: 0 };
  }
  return { points: e.points, spendCents: e.spendCents, purchases: e.purchase ? 1 : 0 };
}

/** Every qualifying point the member holds, net of refunds, as known at `knownAt` (unwritten activity included). */
export async function lifetimeQualifying(reads: TierReads, memberId: string, knownAt: Date): Promise<number> {
  const { rows } = await lifetimeQualifyingQuery(memberId, knownAt).execute(reads.db);
  return (reads.unwritten?.(memberId) ?? []).reduce((sum, e) => (e.createdAt.getTime() <= knownAt.getTime() ? sum + e.points : sum), rows[0]?.qp ?? 0);
}

/** The written part of lifetimeQualifying, for one member or (as a lateral subquery) for each of many. */
function lifetimeQualifyingQuery(memberId: string | RawBuilder<unknown>, knownAt: Date): RawBuilder<{ qp: number }> {
  return sql<{ qp: number }>`
    select coalesce(sum(t.qualifying_points), 0)::int as qp from points_transactions t
    where t.member_id = ${memberId} and not t.cancelled and t.created_at <= ${knownAt}`;
}

/** Starts of the periods (UTC) in which the member had qualifying activity, newest first. */
export async function activePeriods(db: Db, memberId: string, period: StreakPeriod, now: Date, limit = 240): Promise<Date[]> {
  const unit = period === 'QUARTER' ? 'quarter' : 'month';
  const rows = await sql<{ start: Date }>`
    select distinct date_trunc(${unit}, occurred_at at time zone 'UTC') at time zone 'UTC' as start
    from points_transactions
    where member_id = ${memberId} and not cancelled and qualifying_points > 0 and occurred_at <= ${now} and created_at <= ${now}
    order by start desc limit ${limit}`.execute(db);
  return rows.rows.map((r) => new Date(r.start));
}

/** A state row as row_to_json gives it (timestamps as text) back as a row. */
export function stateFromJson(json: Record<string, unknown>): MemberTierRow {
  const at = (v: unknown) => (v == null ? null : new Date(v as string));
  return {
    ...(json as unknown as MemberTierRow),
    since: new Date(json.since as string),
    valid_until: at(json.valid_until), grace_until: at(json.grace_until),
    assigned_since: at(json.assigned_since), assigned_until: at(json.assigned_until),
    updated_at: new Date(json.updated_at as string),
  };
}

export async function findState(db: Db, memberId: string): Promise<MemberTierRow | undefined> {
  return db.selectFrom('member_tiers').selectAll().where('member_id', '=', memberId).executeTakeFirst();
}

/** The read the member read takes for the engine: the stored state as JSON, null when none. */
export const tierStateRead: SqlText = { text: '(select row_to_json(t) from member_tiers t where t.member_id = m.id)', values: [] };

/**
 * The member read's metrics for window `w` at `knownAt`, unless the stored tier is one of
 * `unlessTierIn` with no grace running (null then: nothing above it to check).
 */
export function metricsRead(w: Window, knownAt: Date, unlessTierIn: readonly string[]): SqlText {
  return { text: METRICS_READ, values: [w.from, w.to, knownAt, [...unlessTierIn]] };
}

const METRICS_READ = `case when not exists (select 1 from member_tiers t where t.member_id = m.id and t.grace_until is null and t.tier_code = any($4::text[]))
  then (select row_to_json(x) from (${metricsText('m.id', '$1::timestamptz', '$2::timestamptz', '$3::timestamptz')}) x) end`;

/**
 * The state's write: an insert where none was stored (`from` null), else an update of the
 * version read. The unit of work holds the member (its lock, or a row-version check that every
 * tier-state write passes, since each also writes the member's row), so nothing else writes the
 * state meanwhile and the version matches.
 */
export function saveState(state: MemberTierRow, from: number | null): RowWrite {
  const { member_id, version: _v, ...fields } = state;
  return from === null
    ? { insert: 'member_tiers', rows: [{ ...fields, member_id, version: 1 }] }
    : { update: 'member_tiers', set: { ...fields, version: from + 1 }, where: { member_id, version: from } };
}

export function saveHistory(rows: Insertable<TierHistoryTable>[]): RowWrite {
  return { insert: 'tier_history', rows };
}

export async function history(db: Db, memberId: string, limit: number): Promise<TierHistoryRow[]> {
  return db.selectFrom('tier_history').selectAll().where('member_id', '=', memberId).orderBy('seq', 'desc').limit(limit).execute();
}

/** Members whose review, grace or assignment end is due at `now`, a batch at a time. */
export async function dueMembers(db: Db, now: Date, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('member_tiers').select('member_id')
    .where(sql<boolean>`least(grace_until, valid_until, assigned_until) <= ${now}`)
    .orderBy('member_id').limit(limit).execute();
  return rows.map((r) => r.member_id);
}

export interface MilestoneReview { version: number; reviewedVersion: number; after: string | null }

/** Where the review of members owed a milestone bonus stands (migration 008). */
export async function milestoneReview(db: Db): Promise<MilestoneReview> {
  const row = await db.selectFrom('milestone_review').selectAll().executeTakeFirstOrThrow();
  return { version: row.version, reviewedVersion: row.reviewed_version, after: row.review_after };
}

/**
 * Records the review of `version` as far as member `after`, or finished (`after` null). A no-op
 * when the milestones changed meanwhile: the review of the new version starts over.
 */
export async function advanceMilestoneReview(db: Db, version: number, after: string | null): Promise<void> {
  await db.updateTable('milestone_review')
    .set(after === null ? { reviewed_version: version, review_after: null } : { review_after: after })
    .where('version', '=', version)
    .execute();
}

/**
 * The next `limit` active members after `after` in id order, each with whether it has reached a
 * milestone it has not received (lifetime qualifying points as known at `knownAt`). One index
 * range of members and each one's own ledger entries: the cost follows the batch, not the ledger.
 */
export async function membersReviewedForMilestones(db: Db, after: string | null, knownAt: Date, limit: number) {
  const { rows } = await sql<{ id: string; owed: boolean }>`
    select m.id, exists (select 1 from tier_milestones ms
      where ms.lifetime_qualifying_points <= q.qp
        and not exists (select 1 from member_milestones mm where mm.member_id = m.id
          and mm.lifetime_qualifying_points = ms.lifetime_qualifying_points)) as owed
    from (select id from members where status = 'ACTIVE' and id > ${after ?? NIL_UUID}::uuid
      order by id limit ${limit}) m
    cross join lateral (${lifetimeQualifyingQuery(sql.ref('m.id'), knownAt)}) q
    order by m.id`.execute(db);
  return rows;
}

export async function awardedMilestones(db: Db, memberId: string): Promise<Set<number>> {
  const rows = await db.selectFrom('member_milestones').select('lifetime_qualifying_points').where('member_id', '=', memberId).execute();
  return new Set(rows.map((r) => r.lifetime_qualifying_points));
}

export function recordMilestone(memberId: string, threshold: number, txnId: string, now: Date): RowWrite {
  return { insert: 'member_milestones', rows: [{ member_id: memberId, lifetime_qualifying_points: threshold, txn_id: txnId, awarded_at: now }] };
}

export async function awardedStreaks(db: Db, memberId: string): Promise<Set<number>> {
  const rows = await db.selectFrom('member_streak_awards').select('period_start').where('member_id', '=', memberId).execute();
  return new Set(rows.map((r) => r.period_start.getTime()));
}

export function recordStreak(memberId: string, periodStart: Date, length: number, txnId: string, now: Date): RowWrite {
  return { insert: 'member_streak_awards', rows: [{ member_id: memberId, period_start: periodStart, streak_length: length, txn_id: txnId, awarded_at: now }] };
}
