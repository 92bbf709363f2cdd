import { sql, type RawBuilder } from 'kysely';
import { countValues, embeddedBody, type CountValues, type Embedded } from '../db/ahead';
import { ShapedStatement } from '../db/shaped';
import type { Db } from '../db/database';
import { lockedMemberCte, memberFromJson, type MemberRow } from '../members/members.repo';
import { metricsQuery, qualifyingPointsQuery, tierMetSql } from '../tiers/tiers.repo';
import type { TierThresholds, Window } from '../tiers/tiers.rules';
import { transactionFromJson } from './ledger.repo';
import type { EarnComponent, TransactionRow } from './ledger.types';

/** A rung of the ladder as the statement reads it: what one purchase does not change. */
export interface Rung extends TierThresholds {
  code: string;
  rank: number;
  /** Whether a member can earn the rung (not invitation-only). */
  earnable: boolean;
}

/** What a purchase earns at one rung's multiplier: its points and how. */
export interface Earned {
  total: number;
  breakdown: EarnComponent[];
}

/** What a purchase credits at one rung of the ladder. */
export type RungOutcome = Rung & Earned;

/**
 * The ladder as the statement reads it (ladderFor): its rungs, lowest first, and what the
 * statement knows of them whatever the purchase, written once into its text.
 */
export interface Ladder {
  rungs: readonly Rung[];
  /**
   * A JSON object of each rung by code: its rank and the thresholds of the earnable rungs above
   * it (any of them met means an upgrade). Codes are A-Z, 0-9 and _, so the text holds no quote.
   */
  text: string;
  /** Each rung's code as a JSON string, for the purchase's own figures (purchaseAtOnce). */
  keys: readonly string[];
  /** Whether every earnable rung's thresholds are in points alone. */
  pointsOnly: boolean;
}

/** A programme's ladder for the statement (see Ladder). Built once per programme by the caller. */
export function ladderFor(rungs: readonly Rung[]): Ladder {
  const text = JSON.stringify(Object.fromEntries(rungs.map((rung) => {
    const above = rungs.filter((u) => u.earnable && u.rank > rung.rank)
      .map(({ code, rank, points, spendCents, purchases, matchAll }) => ({ code, rank, points, spendCents, purchases, matchAll }));
    return [rung.code, { rank: rung.rank, above }];
  })));
  const pointsOnly = !rungs.some((rung) => rung.earnable && (rung.spendCents !== null || rung.purchases !== null));
  return { rungs, text, keys: rungs.map((rung) => JSON.stringify(rung.code)), pointsOnly };
}

export interface PurchaseAtOnce {
  memberId: string;
  orderId: string;
  /** The entry's id; the lot's. */
  txnId: string;
  lotId: string;
  /** The request's instant: the statement writes only if the member's last change is not later. */
  now: Date;
  order: {
    partnerId: string | null; amount: string; currency: string; channel: string | null; items: string | null;
    occurredAt: Date; requestHash: string;
  };
  description: string;
  actor: string;
  /** Qualifying points (the base points). */
  qualifyingPoints: number;
  /** When the lot becomes spendable (not before `now`) and when it expires. */
  availableAt: Date;
  expiresAt: Date | null;
  /** The programme's ladder (ladderFor); with one rung the tier state is not consulted. */
  ladder: Ladder;
  /** What the purchase earns at each rung, in the ladder's order. */
  earned: readonly Earned[];
  /**
   * The end of the status a rung above the lowest gained at `now` holds (tiers.engine
   * validityFor): the valid_until an upgrade by this purchase writes.
   */
  upgradeValidUntil: Date;
  /**
   * The qualification window at `now` and this purchase's own part in it (zero when it occurred
   * outside), for the check that it upgrades nobody.
   */
  window: Window;
  own: { points: number; spendCents: number; purchases: number };
  /** The request's rate-limit count, run inside this statement; its verdict gates the writes. */
  count: Embedded | null;
}

export interface PurchaseAtOnceOutcome {
  /** What was written, or null when the statement left the purchase to the general path. */
  written: { entry: TransactionRow; member: MemberRow; rung: RungOutcome } | null;
  /** The count's row, for its verdict. */
  counted: Record<string, unknown> | null;
}

const COUNT = 'c';

/**
 * A purchase as one statement that stands alone (db/pipelined-pool.ts): it locks the member and writes the order, the
 * ledger entry, its lot and the member's totals (and, at a member's first activity on a
 * ladder, its tier state), with the rate-limit count inside it. It writes
 * only where the general path (purchases.service, the transaction with the tier engine) would
 * write exactly those rows and nothing else:
 *
 * - the member is ACTIVE, owes no debt (a debt is paid from new points), and its last change is
 *   not later than `now` (so the entry's instant is `now`);
 * - the order is not recorded (a replay or a conflict), and the count allows the request;
 * - no lot is past its expiry (that calls for EXPIRE entries first);
 * - the row locked is the version the statement's snapshot saw, so the tier state, lots and
 *   orders read from that snapshot are current (as in redeem.repo);
 * - with a ladder of more than one rung: a stored tier state has no grace period or lifetime
 *   status, and no review or assignment end due at `now` (tiers.engine catchUp would replay
 *   it); a member without one (a first activity) gets the state the tier engine stores then,
 *   the lowest rung since enrolment (tiers.engine load, stored at version 1);
 * - where the purchase takes the member's qualifying figures (this purchase included) to an
 *   earnable rung above the one earned, the statement upgrades as tiers.engine applyActivity
 *   does: the highest such rung, held since `now` to `upgradeValidUntil`, version one up, and
 *   an UPGRADE history row from the rung held to the rung held after (an assignment still
 *   running that ranks higher stays what is held). A stored state whose expiry is marked
 *   frozen is left to the general path, whose change() would also re-date lots;
 * - the rung the member holds at `now` (tiers.engine effectiveTier: the earned rung or an
 *   assignment still running, whichever ranks higher) earns points.
 *
 * The points credited are those the caller computed for that rung. Otherwise the statement
 * writes nothing but the count, and the general path decides. The caller leaves out the
 * programmes for which the engine does more on every purchase: expiry that follows inactivity
 * or is frozen by status, milestone or streak bonuses, lifetime status, anniversary windows.
 */
export async function purchaseAtOnce(db: Db, p: PurchaseAtOnce): Promise<PurchaseAtOnceOutcome> {
  const { rungs: ladder, text, keys, pointsOnly } = p.ladder;
  const lowest = ladder[0];
  if (!lowest) throw new Error('a programme has at least one rung');
  let gains = '{';
  p.earned.forEach((earned, i) => {
    gains += `${i > 0 ? ',' : ''}${keys[i]}:{"total":${earned.total},"breakdown":${JSON.stringify(earned.breakdown)}}`;
  });
  gains += '}';
  const rows = await STATEMENT.execute(db, { ladder: text, tiered: ladder.length > 1, pointsOnly, count: p.count }, {
    memberId: p.memberId, now: p.now, orderId: p.orderId, txnId: p.txnId, lotId: p.lotId, gains, lowest: lowest.code,
    ownPoints: p.own.points, ownSpendCents: p.own.spendCents, ownPurchases: p.own.purchases,
    windowFrom: p.window.from, windowTo: p.window.to,
    partnerId: p.order.partnerId, amount: p.order.amount, currency: p.order.currency, channel: p.order.channel,
    items: p.order.items, occurredAt: p.order.occurredAt, requestHash: p.order.requestHash,
    qualifyingPoints: p.qualifyingPoints, availableAt: p.availableAt, expiresAt: p.expiresAt, upgradeValidUntil: p.upgradeValidUntil,
    description: p.description, actor: p.actor, ...countValues(p.count),
  });
  const row = rows[0];
  if (!row) throw new Error('the purchase statement returned no row');
  const { written, entry, rung: code, member, counted: countRow } = row;
  const at = ladder.findIndex((r) => r.code === code);
  const rung = at >= 0 ? { ...(ladder[at] as Rung), ...(p.earned[at] as Earned) } : undefined;
  return {
    written: written && entry && member && rung ? { entry: transactionFromJson(entry), member: memberFromJson(member), rung } : null,
    counted: countRow ?? null,
  };
}

/** The statement's values, by the names it reads them by (db/shaped.ts). */
interface Values extends CountValues {
  memberId: string; now: Date; orderId: string; txnId: string; lotId: string;
  /** What the purchase earns at each rung, its total and breakdown, as one jsonb object keyed by rung code. */
  gains: string;
  /** The lowest rung's code: the rung of a member with no state, or whose stored rung left the ladder. */
  lowest: string;
  ownPoints: number; ownSpendCents: number; ownPurchases: number; windowFrom: Date; windowTo: Date;
  partnerId: string | null; amount: string; currency: string; channel: string | null; items: string | null;
  occurredAt: Date; requestHash: string; qualifyingPoints: number; availableAt: Date; expiresAt: Date | null;
  upgradeValidUntil: Date; description: string; actor: string;
}

/**
 * What changes the statement's text: the ladder (Ladder.text, a constant of the statement, so
 * the server reads it once per plan rather than once per purchase), whether it has rungs above
 * the lowest, whether every earnable rung's thresholds are in points alone (the figures are
 * then the qualifying points, with spend and purchases null, which no threshold reads),
 * and the count inside it.
 */
interface Shape { ladder: string; tiered: boolean; pointsOnly: boolean; count: Embedded | null }

/** One column per object: a row of many columns costs the driver more to take apart than JSON does. */
type Row = { written: boolean | null; entry: Record<string, unknown> | null; rung: string | null; member: Record<string, unknown> | null; counted?: Record<string, unknown> };

const shapeKey = ({ ladder, tiered, pointsOnly, count }: Shape) => `${tiered}|${pointsOnly}|${count?.key ?? ''}|${ladder}`;

const STATEMENT = new ShapedStatement<Values, Shape, Row>(shapeKey, (v, { ladder, tiered, pointsOnly, count }) => {
  const { memberId, now } = v;
  const window = { from: v.windowFrom, to: v.windowTo };
  const ctes: RawBuilder<unknown>[] = [];
  if (count) ctes.push(sql`${sql.raw(COUNT)} as (${embeddedBody(count, v)})`);
  ctes.push(
    lockedMemberCte(memberId),
    sql`st as (select * from member_tiers where member_id = ${memberId})`,
    // The rung earned (a code no longer on the ladder, or no state, is the lowest rung) and the
    // rung held: an assignment still running that ranks higher, or the earned one.
    sql`r as (
      select q.ladder, q.gains,
        case when st.tier_code is not null and q.ladder ? st.tier_code then st.tier_code else ${v.lowest} end as earned,
        case when st.assigned_code is not null and st.assigned_until > ${now}
          then case when q.ladder ? st.assigned_code then st.assigned_code else ${v.lowest} end end as assigned
      from (select ${sql.lit(ladder)}::jsonb as ladder, ${v.gains}::jsonb as gains) q left join st on true)`,
    sql`h as (
      select r.earned, r.ladder -> r.earned -> 'above' as above, x.held, (r.gains -> x.held ->> 'total')::int as total,
        r.gains -> x.held -> 'breakdown' as breakdown
      from r cross join lateral (select case when r.assigned is not null
        and (r.ladder -> r.assigned ->> 'rank')::int > (r.ladder -> r.earned ->> 'rank')::int then r.assigned else r.earned end as held) x)`,
    // The qualifying figures with this purchase, where an earnable rung lies above the one earned.
    sql`figures as materialized (
      select w.qp + ${v.ownPoints}::int as qp, w.spend::numeric * 100 + ${v.ownSpendCents}::bigint as "spendCents",
        w.purchases + ${v.ownPurchases}::int as purchases
      from (${pointsOnly
        ? sql`select q.qp, null::text as spend, null::int as purchases from (${qualifyingPointsQuery(memberId, window, now)}) q`
        : metricsQuery(memberId, window, now)}) w
      where ${sql.lit(tiered)} and (select jsonb_array_length(h.above) > 0 from h))`,
    // The rung the purchase upgrades to: the highest earnable rung above the one earned that the
    // figures meet (tiers.rules qualifiedTier), if any.
    sql`up as (
      select a.code, a.rank from h cross join figures
        cross join lateral jsonb_to_recordset(h.above) as a(code text, rank int, points int, "spendCents" bigint, purchases int, "matchAll" boolean)
      where ${tierMetSql('a', 'figures')}
      order by a.rank desc limit 1)`,
    sql`g as (
      select (m.status = 'ACTIVE' and m.unchanged and m.debt = 0
        and date_trunc('milliseconds', m.updated_at) <= ${now}
        and not exists (select 1 from orders o where o.order_id = ${v.orderId})
        and not exists (select 1 from point_lots d where d.member_id = m.id and d.remaining > 0 and d.expires_at <= ${now})
        and (not ${sql.lit(tiered)} or (
          (not exists (select 1 from st) or exists (select 1 from st where st.grace_until is null and st.lifetime_code is null
            and (st.valid_until is null or st.valid_until > ${now})
            and (st.assigned_code is null or st.assigned_until is null or st.assigned_until > ${now})
            and not (st.expiry_frozen and exists (select 1 from up))))))
        and coalesce((select h.total from h), 0) > 0
        ${count ? sql`and ${count.allows(COUNT)}` : sql``}) as ok
      from m ${count ? sql`cross join ${sql.raw(COUNT)}` : sql``})`,
    sql`o as (
      insert into orders (order_id, member_id, partner_id, amount, currency, channel, items, occurred_at, txn_id,
        points_earned, qualifying_points, breakdown, request_hash, created_at)
      select ${v.orderId}, ${memberId}::uuid, ${v.partnerId}, ${v.amount}::numeric, ${v.currency}, ${v.channel},
        ${v.items}::jsonb, ${v.occurredAt}, ${v.txnId}::uuid, h.total, ${v.qualifyingPoints}::int, h.breakdown,
        ${v.requestHash}, ${now}
      from g cross join h where g.ok)`,
    sql`t as (
      insert into points_transactions (id, member_id, type, points, qualifying_points, available_at, description,
        order_id, partner_id, actor, occurred_at, created_at)
      select ${v.txnId}::uuid, ${memberId}::uuid, 'PURCHASE', h.total, ${v.qualifyingPoints}::int, ${v.availableAt},
        ${v.description}, ${v.orderId}, ${v.partnerId}, ${v.actor}, ${v.occurredAt}, ${now}
      from g cross join h where g.ok
      returning *)`,
    sql`l as (
      insert into point_lots (id, member_id, txn_id, points, remaining, available_at, expires_at, earned_at)
      select ${v.lotId}::uuid, ${memberId}::uuid, ${v.txnId}::uuid, h.total, h.total, ${v.availableAt}, ${v.expiresAt}, ${v.occurredAt}
      from g cross join h where g.ok)`,
  );
  // A first activity stores the member's tier state, as tiers.service onQualifyingPointsChanged
  // does: the lowest rung since enrolment, or the rung it upgrades to since now. (Programmes
  // that freeze expiry by status, whose lowest rung could start frozen, take the general path.)
  // A state inserted meanwhile by another request would have changed the member row: the
  // statement then declines. An upgrade of a stored state moves it on one version, and either
  // writes its history row (tiers.engine change and persist).
  if (tiered) ctes.push(
    sql`s as (
      insert into member_tiers (member_id, tier_code, since, valid_until, grace_until, lifetime_code, assigned_code,
        assigned_since, assigned_until, expiry_frozen, version, updated_at)
      select m.id, coalesce(up.code, ${v.lowest}), case when up.code is null then m.enrolled_at else ${now}::timestamptz end,
        case when up.code is null then null else ${v.upgradeValidUntil}::timestamptz end, null, null, null, null, null, false, 1, ${now}
      from g cross join m left join up on true where g.ok and not exists (select 1 from st))`,
    sql`su as (
      update member_tiers set tier_code = up.code, since = ${now}, valid_until = ${v.upgradeValidUntil}::timestamptz, grace_until = null,
        expiry_frozen = false, version = member_tiers.version + 1, updated_at = ${now}
      from g cross join up where member_tiers.member_id = ${memberId} and g.ok)`,
    sql`sh as (
      insert into tier_history (member_id, at, from_code, to_code, reason, valid_until, previous_valid_until, previous_since, note, created_at)
      select m.id, ${now}, h.held,
        case when r.assigned is not null and (r.ladder -> r.assigned ->> 'rank')::int > up.rank then r.assigned else up.code end,
        'UPGRADE', ${v.upgradeValidUntil}::timestamptz, st.valid_until, coalesce(st.since, m.enrolled_at), null, ${now}
      from g cross join m cross join h cross join r cross join up left join st on true where g.ok)`,
  );
  ctes.push(
    sql`w as (
      update members set lifetime_earned = members.lifetime_earned + h.total, last_activity_at = ${now}, updated_at = ${now}
      from g cross join h where members.id = ${memberId} and g.ok
      returning members.*)`,
  );
  const counted = count ? sql`, to_json(${sql.raw(COUNT)}) as counted` : sql``;
  return sql<Row>`
    with ${sql.join(ctes)}
    select g.ok and t.id is not null as written, to_json(t) as entry, (select h.held from h) as rung, (select to_json(w) from w) as member${counted}
    from (select 1) one left join g on true left join t on true ${count ? sql`cross join ${sql.raw(COUNT)}` : sql``}`;
});
