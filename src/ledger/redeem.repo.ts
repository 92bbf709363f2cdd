import { sql, type RawBuilder } from 'kysely';
import { countValues, embeddedBody, type CountValues, type Embedded } from '../db/ahead';
import { ShapedStatement } from '../db/shaped';
import type { Db } from '../db/database';
import { lockedMemberCte } from '../members/members.repo';
import type { IdempotencyRequest } from './idempotency';
import { transactionFromJson } from './ledger.repo';
import type { TransactionRow } from './ledger.types';

export interface RedemptionAtOnce {
  memberId: string;
  /** The entry's id, also the idempotency record's result. */
  txnId: string;
  points: number;
  description: string;
  partnerId: string | null;
  actor: string;
  /** The request's instant; the entry takes the member's last change instead where that is later (context.ts writeInstant). */
  now: Date;
  idempotency: IdempotencyRequest;
  retentionDays: number;
  /** The request's rate-limit count, run inside this statement; its verdict gates the writes. */
  count: Embedded | null;
}

export interface RedemptionOutcome {
  /** The entry written, or null when the statement left the redemption to the general path. */
  entry: TransactionRow | null;
  /** The member's last change as the lock found it (ms precision), when there is a member. */
  lastChange: Date | null;
  /** The count's row, for its verdict. */
  counted: Record<string, unknown> | null;
}

const COUNT = 'c';

/**
 * A redemption as one statement that stands alone (db/pipelined-pool.ts): it locks the member, draws from the spendable
 * lots soonest-expiring first (ledger.rules consumptionOrder: expiry, nulls last, then earned
 * instant, then id), and writes the entry, the draws, the lots, the member's aggregates and the
 * idempotency record; the rate-limit count rides inside it. It writes only when the general
 * path (ledger.service memberOperation) would do exactly that and nothing else:
 *
 * - the member is ACTIVE and owes no debt (a debt changes what is drawable);
 * - no lot is past its expiry (that calls for EXPIRE entries first);
 * - the key is not recorded (a replay), and the count allows the request;
 * - the row locked is the version the statement's snapshot saw, so the lots read from that
 *   snapshot are current (ledger.core lockMemberProbing relies on the same);
 * - the spendable points cover the redemption.
 *
 * Otherwise it writes nothing but the count, and the general path decides (and refuses, if it
 * must, with the error the caller expects). The caller leaves out programmes whose expiry
 * follows inactivity: their redemptions move every open lot's expiry.
 */
export async function redeemAtOnce(db: Db, r: RedemptionAtOnce): Promise<RedemptionOutcome> {
  const { idempotency: key } = r;
  const rows = await STATEMENT.execute(db, r.count, {
    memberId: r.memberId, txnId: r.txnId, points: r.points, now: r.now, description: r.description, partnerId: r.partnerId, actor: r.actor,
    scope: key.scope, key: key.key, operation: key.operation, requestHash: key.hash, result: JSON.stringify({ transactionId: r.txnId }),
    retentionDays: r.retentionDays, ...countValues(r.count),
  });
  const row = rows[0];
  if (!row) throw new Error('the redemption statement returned no row');
  const { written, entry, last_change: lastChange, counted: countRow } = row;
  return { entry: written && entry ? transactionFromJson(entry) : null, lastChange, counted: countRow ?? null };
}

/** The statement's values, by the names it reads them by (db/shaped.ts). */
interface Values extends CountValues {
  memberId: string; txnId: string; points: number; now: Date; description: string; partnerId: string | null; actor: string;
  scope: string; key: string; operation: string; requestHash: string;
  /** The idempotency record's result: the entry's id. */
  result: string;
  retentionDays: number;
}

/** The entry as one JSON column (see purchase.repo). */
type Row = { written: boolean | null; entry: Record<string, unknown> | null; last_change: Date | null; counted?: Record<string, unknown> };

/** Its shape is the count inside it, if any. */
const STATEMENT = new ShapedStatement<Values, Embedded | null, Row>((count) => count?.key ?? '', (v, count) => {
  const { memberId, txnId, points } = v;
  const ctes: RawBuilder<unknown>[] = [];
  if (count) ctes.push(sql`${sql.raw(COUNT)} as (${embeddedBody(count, v)})`);
  ctes.push(
    lockedMemberCte(memberId),
    // Entries are written at millisecond precision, as the service clock keeps them.
    sql`i as (select m.id, greatest(${v.now}::timestamptz, date_trunc('milliseconds', m.updated_at)) as at from m)`,
    sql`lots as (
      select l.id, l.remaining, sum(l.remaining) over (
          order by l.expires_at asc nulls last, l.earned_at, l.id rows between unbounded preceding and current row) as upto
      from point_lots l cross join i
      where l.member_id = ${memberId} and l.remaining > 0 and l.available_at <= i.at and (l.expires_at is null or l.expires_at > i.at))`,
    sql`g as (
      select i.at, (m.status = 'ACTIVE' and m.unchanged and m.debt = 0
        and not exists (select 1 from idempotency_keys k where k.scope = ${v.scope} and k.key = ${v.key})
        and not exists (select 1 from point_lots d where d.member_id = m.id and d.remaining > 0 and d.expires_at <= i.at)
        and coalesce((select max(lots.upto) from lots), 0) >= ${points}::int
        ${count ? sql`and ${count.allows(COUNT)}` : sql``}) as ok
      from m join i on i.id = m.id ${count ? sql`cross join ${sql.raw(COUNT)}` : sql``})`,
    sql`draws as (
      select lots.id, least(lots.remaining, ${points}::int - (lots.upto - lots.remaining))::int as take
      from lots cross join g where g.ok and lots.upto - lots.remaining < ${points}::int)`,
    sql`t as (
      insert into points_transactions (id, member_id, type, points, qualifying_points, shortfall, available_at,
        description, partner_id, actor, occurred_at, created_at)
      select ${txnId}::uuid, ${memberId}::uuid, 'REDEEM', -${points}::int, 0, 0, g.at, ${v.description}, ${v.partnerId}, ${v.actor}, g.at, g.at
      from g where g.ok
      returning *)`,
    sql`a as (
      insert into lot_allocations (member_id, txn_id, lot_id, points, kind)
      select ${memberId}::uuid, ${txnId}::uuid, draws.id, draws.take, 'DEBIT' from draws)`,
    sql`u as (
      update point_lots set remaining = point_lots.remaining - draws.take
      from draws where point_lots.id = draws.id and point_lots.member_id = ${memberId})`,
    sql`w as (
      update members set lifetime_redeemed = members.lifetime_redeemed + ${points}::int, last_activity_at = g.at, updated_at = g.at
      from g where members.id = ${memberId} and g.ok)`,
    sql`k as (
      insert into idempotency_keys (scope, key, member_id, operation, request_hash, result, created_at, expires_at)
      select ${v.scope}, ${v.key}, ${memberId}::uuid, ${v.operation}, ${v.requestHash}, ${v.result}::jsonb,
        g.at, g.at + make_interval(days => ${v.retentionDays}::int)
      from g where g.ok)`,
  );
  const counted = count ? sql`, to_json(${sql.raw(COUNT)}) as counted` : sql``;
  return sql<Row>`
    with ${sql.join(ctes)}
    select g.ok as written, to_json(t) as entry, (select date_trunc('milliseconds', m.updated_at) from m) as last_change${counted}
    from (select 1) one left join g on true left join t on true ${count ? sql`cross join ${sql.raw(COUNT)}` : sql``}`;
});
