import { sql, type RawBuilder } from 'kysely';
import { countValues, embeddedBody, type Embedded } from '../db/ahead';
import { ShapedStatement } from '../db/shaped';
import type { Db } from '../db/database';
import { lockedMemberCte, lockedMembersCte, memberFromJson, type MemberRow } from '../members/members.repo';
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
  const [outcome] = await purchasesAtOnce(db, [p]);
  if (!outcome) throw new Error('the purchase statement returned no row');
  return outcome;
}

/**
 * Several purchases in one statement, each as purchaseAtOnce would run it alone, with the
 * outcomes in the same order. The server then sets up one plan and binds one set of values for
 * all of them. They must be able to share it (purchase.batch.ts sharesStatement): one ladder,
 * counts of one shape for all or none, and no member, order or counter twice. The members are
 * locked in the order of their ids.
 */
export async function purchasesAtOnce(db: Db, ps: readonly PurchaseAtOnce[]): Promise<PurchaseAtOnceOutcome[]> {
  const [first] = ps;
  if (!first) return [];
  const { rungs: ladder, text, keys, pointsOnly } = first.ladder;
  const lowest = ladder[0];
  if (!lowest) throw new Error('a programme has at least one rung');
  const iso = (at: Date) => at.toISOString();
  // A purchase alone binds plain values (see Shape); a batch, an array of each.
  const single = ps.length === 1;
  const each = <T>(of: (p: PurchaseAtOnce) => T): Field<T> => (single ? of(first) : ps.map(of));
  const values: Values = {
    lowest: lowest.code,
    memberIds: each((p) => p.memberId), nows: each((p) => iso(p.now)), orderIds: each((p) => p.orderId),
    txnIds: each((p) => p.txnId), lotIds: each((p) => p.lotId), gains: each((p) => gainsOf(p, keys)),
    ownPoints: each((p) => p.own.points), ownSpendCents: each((p) => p.own.spendCents), ownPurchases: each((p) => p.own.purchases),
    windowFroms: each((p) => iso(p.window.from)), windowTos: each((p) => iso(p.window.to)),
    partnerIds: each((p) => p.order.partnerId), amounts: each((p) => p.order.amount), currencies: each((p) => p.order.currency),
    channels: each((p) => p.order.channel), items: each((p) => p.order.items), occurredAts: each((p) => iso(p.order.occurredAt)),
    requestHashes: each((p) => p.order.requestHash), qualifyingPoints: each((p) => p.qualifyingPoints),
    availableAts: each((p) => iso(p.availableAt)), expiresAts: each((p) => (p.expiresAt ? iso(p.expiresAt) : null)),
    upgradeValidUntils: each((p) => iso(p.upgradeValidUntil)), descriptions: each((p) => p.description), actors: each((p) => p.actor),
  };
  ps.forEach((p, i) => Object.assign(values, countValues(p.count, countPrefix(i))));
  const shape = { ladder: text, tiered: ladder.length > 1, pointsOnly, count: first.count, size: ps.length };
  const rows = await STATEMENT.execute(db, shape, values);
  return ps.map((p, i) => {
    const row = rows[i];
    if (!row || Number(row.k) !== i + 1) throw new Error('the purchase statement returned no row for a purchase');
    const { written, entry, rung: code, member, counted } = row;
    const at = ladder.findIndex((r) => r.code === code);
    const rung = at >= 0 ? { ...(ladder[at] as Rung), ...(p.earned[at] as Earned) } : undefined;
    return {
      written: written && entry && member && rung ? { entry: transactionFromJson(entry), member: memberFromJson(member), rung } : null,
      counted: counted ?? null,
    };
  });
}

/** What the purchase earns at each rung, its total and breakdown, as one JSON object keyed by rung code. */
function gainsOf(p: PurchaseAtOnce, keys: readonly string[]): string {
  let gains = '{';
  p.earned.forEach((earned, i) => {
    gains += `${i > 0 ? ',' : ''}${keys[i]}:{"total":${earned.total},"breakdown":${JSON.stringify(earned.breakdown)}}`;
  });
  return `${gains}}`;
}

/** The i-th purchase's count: its CTE's name, and the prefix of its values' names. */
const countCte = (i: number) => `c${i}`;
const countPrefix = (i: number) => `c${i}_`;

/** One purchase's value, or an array of every purchase's (one element each, in order). */
type Field<T> = T | T[];

/**
 * The statement's values, by the names it reads them by (db/shaped.ts): one field per column of
 * CTE `buy` (BUY), a plain value for a purchase alone and an array for a batch, and each
 * purchase's count under its own prefix. Instants go as ISO text.
 */
interface Values {
  /** The lowest rung's code: the rung of a member with no state, or whose stored rung left the ladder. */
  lowest: string;
  memberIds: Field<string>; nows: Field<string>; orderIds: Field<string>; txnIds: Field<string>; lotIds: Field<string>;
  gains: Field<string>;
  ownPoints: Field<number>; ownSpendCents: Field<number>; ownPurchases: Field<number>; windowFroms: Field<string>; windowTos: Field<string>;
  partnerIds: Field<string | null>; amounts: Field<string>; currencies: Field<string>; channels: Field<string | null>; items: Field<string | null>;
  occurredAts: Field<string>; requestHashes: Field<string>; qualifyingPoints: Field<number>; availableAts: Field<string>;
  expiresAts: Field<string | null>; upgradeValidUntils: Field<string>; descriptions: Field<string>; actors: Field<string>;
  [count: `c${number}_count${number}`]: unknown;
}

/** The columns of CTE `buy`: the value each is read from, and its type. */
const BUY: readonly (readonly [column: string, field: Exclude<keyof Values, 'lowest' | `c${number}_count${number}`>, type: string])[] = [
  ['member_id', 'memberIds', 'uuid'], ['now', 'nows', 'timestamptz'], ['order_id', 'orderIds', 'text'], ['txn_id', 'txnIds', 'uuid'],
  ['lot_id', 'lotIds', 'uuid'], ['gains', 'gains', 'jsonb'], ['own_points', 'ownPoints', 'int'], ['own_spend_cents', 'ownSpendCents', 'bigint'],
  ['own_purchases', 'ownPurchases', 'int'], ['window_from', 'windowFroms', 'timestamptz'], ['window_to', 'windowTos', 'timestamptz'],
  ['partner_id', 'partnerIds', 'text'], ['amount', 'amounts', 'numeric'], ['currency', 'currencies', 'text'], ['channel', 'channels', 'text'],
  ['items', 'items', 'jsonb'], ['occurred_at', 'occurredAts', 'timestamptz'], ['request_hash', 'requestHashes', 'text'],
  ['qualifying_points', 'qualifyingPoints', 'int'], ['available_at', 'availableAts', 'timestamptz'], ['expires_at', 'expiresAts', 'timestamptz'],
  ['upgrade_valid_until', 'upgradeValidUntils', 'timestamptz'], ['description', 'descriptions', 'text'], ['actor', 'actors', 'text'],
];

/**
 * What changes the statement's text: the ladder (Ladder.text, a constant of the statement, so
 * the server reads it once per plan rather than once per purchase), whether it has rungs above
 * the lowest, whether every earnable rung's thresholds are in points alone (the figures are
 * then the qualifying points, with spend and purchases null, which no threshold reads),
 * the counts inside it and, with counts, how many purchases (a count is a CTE of its own).
 * A purchase alone (size 1) reads plain values and locks its member by id: read from arrays,
 * a lone purchase took about a quarter more of the server's time than a scalar statement, and
 * the plain values win back about half of that (BENCHMARKS.md).
 */
interface Shape { ladder: string; tiered: boolean; pointsOnly: boolean; count: Embedded | null; size: number }

/** One column per object: a row of many columns costs the driver more to take apart than JSON does. */
type Row = {
  k: string | number; written: boolean | null; entry: Record<string, unknown> | null; rung: string | null;
  member: Record<string, unknown> | null; counted?: Record<string, unknown>;
};

const shapeKey = ({ ladder, tiered, pointsOnly, count, size }: Shape) =>
  `${size === 1}|${tiered}|${pointsOnly}|${count ? `${size}|${count.key}` : ''}|${ladder}`;

/**
 * The purchases are the rows of CTE `buy`, numbered from 1 by `k` in the order given; every
 * other CTE carries `k`, or the member's id, to join on. (Not `p`, `t`, `x` or `o`: the
 * qualifying-points subquery names its own tables so.)
 */
const STATEMENT = new ShapedStatement<Values, Shape, Row>(shapeKey, (v, { ladder, tiered, pointsOnly, count, size }) => {
  const single = size === 1;
  const ids = single ? sql`${v.memberIds}::uuid` : sql`${v.memberIds}::uuid[]`;
  const ctes: RawBuilder<unknown>[] = [];
  if (count) {
    const each = Array.from({ length: size }, (_, i) => i);
    for (const i of each) ctes.push(sql`${sql.raw(countCte(i))} as (${embeddedBody(count, v, countPrefix(i))})`);
    // Each purchase's count by k: its verdict and its row.
    ctes.push(sql`cs as (${sql.join(each.map((i) => sql`
      select ${sql.lit(i + 1)}::bigint as k, ${count.allows(countCte(i))} as allows, to_json(${sql.raw(countCte(i))}) as counted
      from ${sql.raw(countCte(i))}`), sql` union all `)})`);
  }
  ctes.push(
    single
      ? sql`buy as (select ${sql.join(BUY.map(([column, field, type]) => sql`${v[field]}::${sql.raw(type)} as ${sql.raw(column)}`))}, 1::bigint as k)`
      : sql`buy as (
      select * from unnest(${sql.join(BUY.map(([, field, type]) => sql`${v[field]}::${sql.raw(type)}[]`))})
      with ordinality as buy(${sql.raw(BUY.map(([column]) => column).join(', '))}, k))`,
    single ? lockedMemberCte(ids) : lockedMembersCte(ids),
    sql`st as (select * from member_tiers where member_id = ${single ? ids : sql`any(${ids})`})`,
    // The rung earned (a code no longer on the ladder, or no state, is the lowest rung) and the
    // rung held: an assignment still running that ranks higher, or the earned one.
    sql`r as (
      select buy.k, q.ladder, buy.gains,
        case when st.tier_code is not null and q.ladder ? st.tier_code then st.tier_code else ${v.lowest} end as earned,
        case when st.assigned_code is not null and st.assigned_until > buy.now
          then case when q.ladder ? st.assigned_code then st.assigned_code else ${v.lowest} end end as assigned
      from buy cross join (select ${sql.lit(ladder)}::jsonb as ladder) q left join st on st.member_id = buy.member_id)`,
    sql`h as (
      select r.k, r.earned, r.ladder -> r.earned -> 'above' as above, x.held, (r.gains -> x.held ->> 'total')::int as total,
        r.gains -> x.held -> 'breakdown' as breakdown
      from r cross join lateral (select case when r.assigned is not null
        and (r.ladder -> r.assigned ->> 'rank')::int > (r.ladder -> r.earned ->> 'rank')::int then r.assigned else r.earned end as held) x)`,
  );
  // The qualifying figures with the purchase, where an earnable rung lies above the one earned.
  const window = { from: sql.ref('buy.window_from'), to: sql.ref('buy.window_to') };
  const member = sql.ref('buy.member_id');
  const knownAt = sql.ref('buy.now');
  ctes.push(
    sql`figures as materialized (
      select buy.k, w.qp + buy.own_points as qp, w.spend::numeric * 100 + buy.own_spend_cents as "spendCents",
        w.purchases + buy.own_purchases as purchases
      from buy join h on h.k = buy.k cross join lateral (${pointsOnly
        ? sql`select q.qp, null::text as spend, null::int as purchases from (${qualifyingPointsQuery(member, window, knownAt)}) q`
        : metricsQuery(member, window, knownAt)}) w
      where ${sql.lit(tiered)} and jsonb_array_length(h.above) > 0)`,
    // The rung each purchase upgrades to: the highest earnable rung above the one earned that
    // the figures meet (tiers.rules qualifiedTier), if any.
    sql`up as (
      select distinct on (h.k) h.k, a.code, a.rank from h join figures on figures.k = h.k
        cross join lateral jsonb_to_recordset(h.above) as a(code text, rank int, points int, "spendCents" bigint, purchases int, "matchAll" boolean)
      where ${tierMetSql('a', 'figures')}
      order by h.k, a.rank desc)`,
    sql`g as (
      select buy.k, (m.status = 'ACTIVE' and m.unchanged and m.debt = 0
        and date_trunc('milliseconds', m.updated_at) <= buy.now
        and not exists (select 1 from orders o where o.order_id = buy.order_id)
        and not exists (select 1 from point_lots d where d.member_id = m.id and d.remaining > 0 and d.expires_at <= buy.now)
        and (not ${sql.lit(tiered)} or st.member_id is null or (st.grace_until is null and st.lifetime_code is null
          and (st.valid_until is null or st.valid_until > buy.now)
          and (st.assigned_code is null or st.assigned_until is null or st.assigned_until > buy.now)
          and not (st.expiry_frozen and up.k is not null)))
        and coalesce(h.total, 0) > 0
        ${count ? sql`and cs.allows` : sql``}) as ok
      from buy join m on m.id = buy.member_id join h on h.k = buy.k
        left join st on st.member_id = buy.member_id left join up on up.k = buy.k
        ${count ? sql`join cs on cs.k = buy.k` : sql``})`,
    sql`o as (
      insert into orders (order_id, member_id, partner_id, amount, currency, channel, items, occurred_at, txn_id,
        points_earned, qualifying_points, breakdown, request_hash, created_at)
      select buy.order_id, buy.member_id, buy.partner_id, buy.amount, buy.currency, buy.channel, buy.items, buy.occurred_at, buy.txn_id,
        h.total, buy.qualifying_points, h.breakdown, buy.request_hash, buy.now
      from buy join g on g.k = buy.k join h on h.k = buy.k where g.ok)`,
    sql`t as (
      insert into points_transactions (id, member_id, type, points, qualifying_points, available_at, description,
        order_id, partner_id, actor, occurred_at, created_at)
      select buy.txn_id, buy.member_id, 'PURCHASE', h.total, buy.qualifying_points, buy.available_at,
        buy.description, buy.order_id, buy.partner_id, buy.actor, buy.occurred_at, buy.now
      from buy join g on g.k = buy.k join h on h.k = buy.k where g.ok
      returning *)`,
    sql`l as (
      insert into point_lots (id, member_id, txn_id, points, remaining, available_at, expires_at, earned_at)
      select buy.lot_id, buy.member_id, buy.txn_id, h.total, h.total, buy.available_at, buy.expires_at, buy.occurred_at
      from buy join g on g.k = buy.k join h on h.k = buy.k where g.ok)`,
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
      select m.id, coalesce(up.code, ${v.lowest}), case when up.code is null then m.enrolled_at else buy.now end,
        case when up.code is null then null else buy.upgrade_valid_until end, null, null, null, null, null, false, 1, buy.now
      from buy join g on g.k = buy.k join m on m.id = buy.member_id left join up on up.k = buy.k
        left join st on st.member_id = buy.member_id
      where g.ok and st.member_id is null)`,
    sql`su as (
      update member_tiers set tier_code = up.code, since = buy.now, valid_until = buy.upgrade_valid_until, grace_until = null,
        expiry_frozen = false, version = member_tiers.version + 1, updated_at = buy.now
      from buy join g on g.k = buy.k join up on up.k = buy.k where member_tiers.member_id = buy.member_id and g.ok)`,
    sql`sh as (
      insert into tier_history (member_id, at, from_code, to_code, reason, valid_until, previous_valid_until, previous_since, note, created_at)
      select m.id, buy.now, h.held,
        case when r.assigned is not null and (r.ladder -> r.assigned ->> 'rank')::int > up.rank then r.assigned else up.code end,
        'UPGRADE', buy.upgrade_valid_until, st.valid_until, coalesce(st.since, m.enrolled_at), null, buy.now
      from buy join g on g.k = buy.k join m on m.id = buy.member_id join h on h.k = buy.k join r on r.k = buy.k
        join up on up.k = buy.k left join st on st.member_id = buy.member_id
      where g.ok)`,
  );
  ctes.push(
    sql`w as (
      update members set lifetime_earned = members.lifetime_earned + h.total, last_activity_at = buy.now, updated_at = buy.now
      from buy join g on g.k = buy.k join h on h.k = buy.k where members.id = buy.member_id and g.ok
      returning buy.k, to_json(members) as member)`,
  );
  return sql<Row>`
    with ${sql.join(ctes)}
    select buy.k, g.ok and t.id is not null as written, to_json(t) as entry, h.held as rung, w.member${count ? sql`, cs.counted` : sql``}
    from buy left join g on g.k = buy.k left join t on t.id = buy.txn_id left join h on h.k = buy.k left join w on w.k = buy.k
      ${count ? sql`left join cs on cs.k = buy.k` : sql``}
    order by buy.k`;
});
