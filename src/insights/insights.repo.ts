/**
 * The SQL of loyalty insights: the facts a member's profile is decided from, the summary the
 * maintenance pass keeps, and the programme-wide aggregates. Every figure is an aggregate in
 * the database; decisions (stage, risk, tier) are grouped by the facts they depend on and
 * decided in TypeScript (loyalty.rules.ts).
 */
import { sql, type Insertable, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { LoyaltySummaryTable, MemberLoyaltyTable } from '../db/schema';
import { YEAR_MS } from './loyalty.rules';

export type SummaryRow = Selectable<LoyaltySummaryTable>;
export type MemberLoyaltyRow = Insertable<MemberLoyaltyTable>;

/** A purchase counts unless it was refunded in full. */
const COUNTED = sql`o.refunded_amount < o.amount`;

/** What a member's profile is decided from, at one instant. */
export interface MemberFacts {
  member_id: string;
  enrolled_at: Date;
  erased: boolean;
  purchases: number;
  first_purchase_at: Date | null;
  second_purchase_at: Date | null;
  last_purchase_at: Date | null;
  frequency_365: number;
  spend_365: string;
  /** In the 365 days before those. */
  frequency_prior_365: number;
  spend_prior_365: string;
  channels: string[];
  first_engagement: Date | null;
  first_rewarded_referral: Date | null;
  referrals_made: number;
  latest_score: number | null;
  latest_answer_at: Date | null;
  complaints_filed: number;
  complaints_open: number;
  complaints_past_sla: number;
}

/** The facts of `ids` at `now`, one row per member (members with nothing have zeros and nulls). */
export async function memberFacts(db: Db, ids: readonly string[], now: Date, slaHours: number): Promise<MemberFacts[]> {
  if (ids.length === 0) return [];
  const yearAgo = new Date(now.getTime() - YEAR_MS);
  const twoYearsAgo = new Date(now.getTime() - 2 * YEAR_MS);
  const slaStart = new Date(now.getTime() - slaHours * 3_600_000);
  const { rows } = await sql<MemberFacts>`
    select i.member_id, m.enrolled_at, m.erased_at is not null as erased, p.purchases, p.first_purchase_at, p.second_purchase_at, p.last_purchase_at, p.frequency_365, p.spend_365, p.frequency_prior_365, p.spend_prior_365,
      array(
        select channel from orders o where o.member_id = i.member_id and o.channel is not null
        union select channel from survey_responses s where s.member_id = i.member_id and s.channel is not null
        union select channel from complaints c where c.member_id = i.member_id and c.channel is not null
        order by 1
      ) as channels,
      least(
        (select min(e.occurred_at) from member_events e where e.member_id = i.member_id and e.scope <> 'system'),
        (select min(s.created_at) from survey_responses s where s.member_id = i.member_id),
        (select min(c.created_at) from complaints c where c.member_id = i.member_id)
      ) as first_engagement,
      r.first_rewarded_referral, r.referrals_made, a.score as latest_score, a.created_at as latest_answer_at,
      c.complaints_filed, c.complaints_open, c.complaints_past_sla
    from unnest(${[...ids]}::uuid[]) as i (member_id)
    join members m on m.id = i.member_id
    cross join lateral (
      select count(*)::int as purchases,
        min(o.occurred_at) as first_purchase_at,
        (array_agg(o.occurred_at order by o.occurred_at))[2] as second_purchase_at,
        max(o.occurred_at) as last_purchase_at,
        (count(*) filter (where o.occurred_at >= ${yearAgo}))::int as frequency_365,
        coalesce(sum(o.amount - o.refunded_amount) filter (where o.occurred_at >= ${yearAgo}), 0)::text as spend_365,
        (count(*) filter (where o.occurred_at >= ${twoYearsAgo} and o.occurred_at < ${yearAgo}))::int as frequency_prior_365,
        coalesce(sum(o.amount - o.refunded_amount) filter (where o.occurred_at >= ${twoYearsAgo} and o.occurred_at < ${yearAgo}), 0)::text as spend_prior_365
      from orders o where o.member_id = i.member_id and ${COUNTED}
    ) p
    cross join lateral (
      select min(f.decided_at) filter (where f.status = 'REWARDED') as first_rewarded_referral, count(*)::int as referrals_made
      from referrals f where f.referrer_id = i.member_id
    ) r
    left join lateral (
      select s.score, s.created_at from survey_responses s where s.member_id = i.member_id order by s.created_at desc, s.id desc limit 1
    ) a on true
    cross join lateral (
      select count(*)::int as complaints_filed,
        (count(*) filter (where c.status = 'OPEN'))::int as complaints_open,
        (count(*) filter (where c.status = 'OPEN' and c.created_at < ${slaStart}))::int as complaints_past_sla
      from complaints c where c.member_id = i.member_id
    ) c
  `.execute(db);
  return rows.map((row) => ({ ...row, spend_365: String(row.spend_365), spend_prior_365: String(row.spend_prior_365) }));
}

/** The programme-wide figures the RFM scores and the churn gap of one-time buyers are measured against. */
export interface ProgrammeFigures {
  median_gap_days: number | null;
  buyers: number;
  recency_breaks: number[];
  frequency_breaks: number[];
  monetary_breaks: number[];
}

/**
 * The median of members' average gaps between purchases, and the 20/40/60/80th percentiles of
 * recency (days since the last purchase), 365-day frequency and 365-day spend across buyers.
 */
export async function programmeFigures(db: Db, now: Date): Promise<ProgrammeFigures> {
  const yearAgo = new Date(now.getTime() - YEAR_MS);
  const { rows } = await sql<ProgrammeFigures>`
    with buyers as (
      select o.member_id, count(*) as purchases,
        extract(epoch from (${now}::timestamptz - max(o.occurred_at))) / 86400 as recency,
        count(*) filter (where o.occurred_at > ${yearAgo}) as frequency,
        coalesce(sum(o.amount - o.refunded_amount) filter (where o.occurred_at > ${yearAgo}), 0) as monetary,
        case when count(*) >= 2 then extract(epoch from (max(o.occurred_at) - min(o.occurred_at))) / 86400 / (count(*) - 1) end as gap
      from orders o where ${COUNTED}
      group by o.member_id
    )
    select
      (percentile_cont(0.5) within group (order by gap) filter (where gap > 0))::float8 as median_gap_days,
      count(*)::int as buyers,
      coalesce(percentile_cont(array[0.2, 0.4, 0.6, 0.8]::float8[]) within group (order by recency), '{}')::float8[] as recency_breaks,
      coalesce(percentile_cont(array[0.2, 0.4, 0.6, 0.8]::float8[]) within group (order by frequency), '{}')::float8[] as frequency_breaks,
      coalesce(percentile_cont(array[0.2, 0.4, 0.6, 0.8]::float8[]) within group (order by monetary), '{}')::float8[] as monetary_breaks
    from buyers
  `.execute(db);
  const row = rows[0] as ProgrammeFigures;
  return { ...row, recency_breaks: row.recency_breaks ?? [], frequency_breaks: row.frequency_breaks ?? [], monetary_breaks: row.monetary_breaks ?? [] };
}

export async function findSummary(db: Db): Promise<SummaryRow | undefined> {
  return db.selectFrom('loyalty_summary').selectAll().where('id', '=', 1).executeTakeFirst();
}

export async function saveSummary(db: Db, figures: ProgrammeFigures, at: Date, full: boolean, previous: SummaryRow | undefined): Promise<void> {
  const { median_gap_days, buyers, recency_breaks, frequency_breaks, monetary_breaks } = figures;
  const row = {
    median_gap_days, buyers, recency_breaks, frequency_breaks, monetary_breaks,
    refreshed_at: at, full_refreshed_at: full || !previous ? at : previous.full_refreshed_at,
  };
  await db.insertInto('loyalty_summary').values({ id: 1, ...row }).onConflict((oc) => oc.column('id').doUpdateSet(row)).execute();
}

/** Members by id after `after`, a page at a time: the walk of a full refresh. */
export async function memberIdsAfter(db: Db, after: string | null, limit: number): Promise<string[]> {
  let query = db.selectFrom('members').select('id').orderBy('id').limit(limit);
  if (after) query = query.where('id', '>', after);
  return (await query.execute()).map((r) => r.id);
}

/**
 * Members whose facts may have changed since `since`: a purchase or refund recorded, an event,
 * answer or complaint, a referral decided or reversed, an erasure, and purchases crossing the
 * start of a 365-day window (into the year before, or out of that).
 */
export async function membersChangedSince(db: Db, since: Date, now: Date): Promise<string[]> {
  const { rows } = await sql<{ member_id: string }>`
    select member_id from orders where created_at > ${since}
    union select member_id from refunds where created_at > ${since}
    union select member_id from member_events where created_at > ${since} and scope <> 'system'
    union select member_id from survey_responses where created_at > ${since}
    union select member_id from complaints where created_at > ${since} or resolved_at > ${since}
    union select referrer_id from referrals where decided_at > ${since} or reversed_at > ${since}
    union select id from members where erased_at > ${since}
    union select member_id from orders where occurred_at > ${new Date(since.getTime() - YEAR_MS)} and occurred_at <= ${new Date(now.getTime() - YEAR_MS)}
    union select member_id from orders where occurred_at > ${new Date(since.getTime() - 2 * YEAR_MS)} and occurred_at <= ${new Date(now.getTime() - 2 * YEAR_MS)}
  `.execute(db);
  return rows.map((r) => r.member_id);
}

/** What a summary row says (all but its key and when it last changed). */
const SUMMARY_FACTS = [
  'purchases', 'last_purchase_at', 'prospect_at', 'first_time_at', 'repeat_at', 'advocate_at', 'churn_medium_at', 'churn_high_at',
  'spend_365', 'frequency_365', 'spend_prior_365', 'frequency_prior_365', 'enrolled_at', 'erased',
] as const;

/**
 * Replaces the summary rows of `ids`: `rows` for those with something to say, none for the rest
 * (SUSPECT). A row that says what it said before is left as it is, so a daily refresh of every
 * member writes (and leaves behind for VACUUM) only the rows that changed.
 */
export async function saveMemberRows(db: Db, ids: readonly string[], rows: readonly MemberLoyaltyRow[]): Promise<void> {
  if (ids.length === 0) return;
  const kept = rows.map((r) => r.member_id);
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('member_loyalty').where('member_id', 'in', [...ids])
      .$if(kept.length > 0, (q) => q.where('member_id', 'not in', kept)).execute();
    if (rows.length === 0) return;
    const facts = (table: string) => sql.join(SUMMARY_FACTS.map((c) => sql.ref(`${table}.${c}`)));
    await tx.insertInto('member_loyalty').values([...rows]).onConflict((oc) => oc.column('member_id')
      .doUpdateSet((eb) => ({
        ...Object.fromEntries(SUMMARY_FACTS.map((c) => [c, eb.ref(`excluded.${c}`)])),
        refreshed_at: eb.ref('excluded.refreshed_at'),
      }))
      .where(sql<boolean>`(${facts('member_loyalty')}) is distinct from (${facts('excluded')})`)).execute();
  });
}

// ---- Programme-wide aggregates -------------------------------------------------------------

/** Which members a figure covers: all, or those with a tag, or those whose earned tier is `tier` (`lowest` for those with no tier state yet). */
export interface Narrowing { tag: string | null; tier: string | null; lowest: string }

/** A condition on a member id column: true for members within the narrowing. */
function within(column: RawBuilder<unknown>, n: Narrowing): RawBuilder<unknown> {
  if (n.tag === null && n.tier === null) return sql`true`;
  const tag = n.tag === null ? sql`true` : sql`${n.tag} = any(nm.tags)`;
  const tier = n.tier === null ? sql`true` : sql`coalesce((select t.tier_code from member_tiers t where t.member_id = nm.id), ${n.lowest}) = ${n.tier}`;
  return sql`exists (select 1 from members nm where nm.id = ${column} and ${tag} and ${tier})`;
}

export interface NpsCounts { responses: number; promoters: number; passives: number; detractors: number }

/** Each member's latest answer in [from, to) counted once, by category. */
export async function npsCounts(db: Db, from: Date, to: Date, n: Narrowing): Promise<NpsCounts> {
  const { rows } = await sql<NpsCounts>`
    with latest as (
      select distinct on (s.member_id) s.score from survey_responses s
      where s.created_at >= ${from} and s.created_at < ${to} and ${within(sql`s.member_id`, n)}
      order by s.member_id, s.created_at desc, s.id desc
    )
    select count(*)::int as responses, (count(*) filter (where score >= 9))::int as promoters,
      (count(*) filter (where score between 7 and 8))::int as passives, (count(*) filter (where score <= 6))::int as detractors
    from latest
  `.execute(db);
  return rows[0] as NpsCounts;
}

/** The same, month by month in the programme's time zone (each member's latest answer within the month). */
export async function npsByMonth(db: Db, from: Date, to: Date, timezone: string, n: Narrowing): Promise<(NpsCounts & { month: string })[]> {
  const { rows } = await sql<NpsCounts & { month: string }>`
    with latest as (
      select distinct on (s.member_id, month) to_char(s.created_at at time zone ${timezone}, 'YYYY-MM') as month, s.score
      from survey_responses s
      where s.created_at >= ${from} and s.created_at < ${to} and ${within(sql`s.member_id`, n)}
      order by s.member_id, month, s.created_at desc, s.id desc
    )
    select month, count(*)::int as responses, (count(*) filter (where score >= 9))::int as promoters,
      (count(*) filter (where score between 7 and 8))::int as passives, (count(*) filter (where score <= 6))::int as detractors
    from latest group by month order by month
  `.execute(db);
  return rows;
}

/**
 * Members with a counted purchase in [baseFrom, baseTo), and how many of them have one in
 * [from, to): one pass over the orders of both ranges, grouped by member.
 */
export async function retention(db: Db, base: { from: Date; to: Date }, range: { from: Date; to: Date }, n: Narrowing) {
  const inBase = sql`o.occurred_at >= ${base.from} and o.occurred_at < ${base.to}`;
  const inRange = sql`o.occurred_at >= ${range.from} and o.occurred_at < ${range.to}`;
  const { rows } = await sql<{ base_active: number; retained: number }>`
    select (count(*) filter (where in_base))::int as base_active, (count(*) filter (where in_base and in_range))::int as retained
    from (
      select o.member_id, bool_or(${inBase}) as in_base, bool_or(${inRange}) as in_range
      from orders o
      where ((${inBase}) or (${inRange})) and ${COUNTED} and ${within(sql`o.member_id`, n)}
      group by o.member_id
    ) m
  `.execute(db);
  return rows[0] as { base_active: number; retained: number };
}

export interface BuyerSpend { buyers: number; repeat_buyers: number; top_spend: string; revenue: string }

/**
 * Buyers by net spend, from `spend` (member_id, purchases, spend: one row per buyer), read twice:
 * how many, how many bought twice or more, the spend of all, and that of the top fifth
 * (topBuyerCount; ties at its edge do not change the sum).
 */
async function rankBuyers(db: Db, spend: RawBuilder<unknown>, materialized: boolean): Promise<BuyerSpend> {
  const { rows } = await sql<BuyerSpend>`
    with spend as ${materialized ? sql`materialized` : sql`not materialized`} (${spend}),
    totals as (
      select count(*)::int as buyers, (count(*) filter (where purchases >= 2))::int as repeat_buyers, coalesce(sum(spend), 0) as revenue from spend
    )
    select buyers, repeat_buyers, revenue::text as revenue,
      (select coalesce(sum(spend), 0) from (select spend from spend order by spend desc limit (select ceil(buyers / 5.0)::int8 from totals)) top)::text as top_spend
    from totals
  `.execute(db);
  return rows[0] as BuyerSpend;
}

/** Buyers in [from, to), from their orders. */
export async function buyerSpend(db: Db, from: Date, to: Date, n: Narrowing): Promise<BuyerSpend> {
  return rankBuyers(db, sql`
    select o.member_id, count(*) as purchases, sum(o.amount - o.refunded_amount) as spend
    from orders o
    where o.occurred_at >= ${from} and o.occurred_at < ${to} and ${COUNTED} and ${within(sql`o.member_id`, n)}
    group by o.member_id
  `, true);
}

/** Buyers in the summary's 365-day window (up to its last refresh), from one row per member (the top fifth off its spend index). */
export async function summaryBuyerSpend(db: Db, n: Narrowing): Promise<BuyerSpend> {
  return rankBuyers(db, sql`
    select l.member_id, l.frequency_365 as purchases, l.spend_365 as spend
    from member_loyalty l where l.frequency_365 > 0 and ${within(sql`l.member_id`, n)}
  `, false);
}

/** Retention in the summary's 365-day window against the 365 days before it. */
export async function summaryRetention(db: Db, n: Narrowing) {
  const { rows } = await sql<{ base_active: number; retained: number }>`
    select count(*)::int as base_active, (count(*) filter (where l.frequency_365 > 0))::int as retained
    from member_loyalty l where l.frequency_prior_365 > 0 and ${within(sql`l.member_id`, n)}
  `.execute(db);
  return rows[0] as { base_active: number; retained: number };
}

/**
 * Members enrolled by `at` who have a tier state, grouped by the tier they had earned then and
 * any assignment active then: the stored tier, or for a member whose tier changed after `at`,
 * the tier that first change after `at` left. (Those without a state hold the lowest rung: the
 * rest of membersAt.) Members enrolled after `at` or erased are left out through two small
 * indexes, so the members themselves are not read.
 */
export async function tierGroups(db: Db, at: Date, n: Narrowing) {
  const { rows } = await sql<{ earned: string; assigned: string | null; count: number }>`
    with later as (
      select distinct on (h.member_id) h.member_id, h.from_code from tier_history h where h.at > ${at} order by h.member_id, h.at, h.seq
    )
    select coalesce(l.from_code, t.tier_code) as earned, case when t.assigned_until > ${at} then t.assigned_code end as assigned, count(*)::int as count
    from member_tiers t left join later l on l.member_id = t.member_id
    where not exists (select 1 from members m where m.id = t.member_id and (m.enrolled_at > ${at} or m.erased_at is not null))
      and ${within(sql`t.member_id`, n)}
    group by 1, 2
  `.execute(db);
  return rows;
}

/** Members enrolled by `at`. */
export async function membersAt(db: Db, at: Date, n: Narrowing): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    select count(*)::int as count from members m where m.enrolled_at <= ${at} and m.erased_at is null and ${within(sql`m.id`, n)}
  `.execute(db);
  return (rows[0] as { count: number }).count;
}

/** Summarised members enrolled by `at`, grouped by which rungs they had reached and which risk thresholds they had passed by then. */
export async function summaryGroups(db: Db, at: Date, n: Narrowing) {
  const { rows } = await sql<{
    prospect: boolean; first_time: boolean; repeat: boolean; advocate: boolean; medium: boolean; high: boolean; count: number;
  }>`
    select coalesce(l.prospect_at <= ${at}, false) as prospect, coalesce(l.first_time_at <= ${at}, false) as first_time,
      coalesce(l.repeat_at <= ${at}, false) as repeat, coalesce(l.advocate_at <= ${at}, false) as advocate,
      coalesce(l.churn_medium_at < ${at}, false) as medium, coalesce(l.churn_high_at < ${at}, false) as high,
      count(*)::int as count
    from member_loyalty l
    where l.enrolled_at <= ${at} and not l.erased and ${within(sql`l.member_id`, n)}
    group by 1, 2, 3, 4, 5, 6
  `.execute(db);
  return rows;
}

/** Members at high risk at `at`, highest 365-day spend first. */
export async function atRiskIds(db: Db, at: Date, first: number, n: Narrowing): Promise<string[]> {
  const { rows } = await sql<{ member_id: string }>`
    select l.member_id from member_loyalty l join members m on m.id = l.member_id
    where l.churn_high_at is not null and l.churn_high_at < ${at} and m.status <> 'CLOSED' and m.erased_at is null and ${within(sql`l.member_id`, n)}
    order by l.spend_365 desc, l.member_id
    limit ${first}
  `.execute(db);
  return rows.map((r) => r.member_id);
}

export interface ComplaintFigures {
  filed: number; resolved: number; open: number;
  median_hours: number | null; p90_hours: number | null; within_sla: number;
}

export async function complaintFigures(db: Db, from: Date, to: Date, at: Date, slaHours: number, n: Narrowing): Promise<ComplaintFigures> {
  const { rows } = await sql<ComplaintFigures>`
    select
      (select count(*)::int from complaints c where c.created_at >= ${from} and c.created_at < ${to} and ${within(sql`c.member_id`, n)}) as filed,
      r.resolved, r.median_hours, r.p90_hours, r.within_sla,
      (select count(*)::int from complaints c where c.created_at <= ${at} and (c.resolved_at is null or c.resolved_at > ${at}) and ${within(sql`c.member_id`, n)}) as open
    from (
      select count(*)::int as resolved,
        (percentile_cont(0.5) within group (order by hours))::float8 as median_hours,
        (percentile_cont(0.9) within group (order by hours))::float8 as p90_hours,
        (count(*) filter (where hours <= ${slaHours}))::int as within_sla
      from (
        select extract(epoch from (c.resolved_at - c.created_at)) / 3600 as hours from complaints c
        where c.resolved_at >= ${from} and c.resolved_at < ${to} and ${within(sql`c.member_id`, n)}
      ) h
    ) r
  `.execute(db);
  return rows[0] as ComplaintFigures;
}

export interface PointFlows { issued: number; redeemed: number; expired: number; outstanding: number }

/** The columns issued, redeemed and expired over the ledger rows `t` where `counted` holds (pointFlows says what each counts). */
function flowSums(counted: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    coalesce(sum(t.points) filter (where ${counted} and (t.type in ('PURCHASE', 'EARN', 'BONUS', 'REFUND') or (t.type = 'ADJUST' and t.points > 0))), 0)::int8 as issued,
    coalesce(-sum(t.points) filter (where ${counted} and t.type in ('REDEEM', 'REVERSAL')), 0)::int8 as redeemed,
    coalesce(-sum(t.points) filter (where ${counted} and t.type = 'EXPIRE'), 0)::int8 as expired`;
}

/**
 * Points issued (credits of purchases, earns, bonuses and positive adjustments, less what
 * refunds took back), redeemed (net of reversals) and expired in [from, to), and the ledger's
 * sum at `at`: what members hold, available or pending.
 */
export async function pointFlows(db: Db, from: Date, to: Date, at: Date, n: Narrowing): Promise<PointFlows> {
  const { rows } = await sql<PointFlows>`
    select ${flowSums(sql`t.created_at >= ${from} and t.created_at < ${to}`)},
      coalesce(sum(t.points) filter (where t.created_at <= ${at}), 0)::int8 as outstanding
    from points_transactions t
    where not t.cancelled and t.created_at <= ${to} and ${within(sql`t.member_id`, n)}
  `.execute(db);
  return rows[0] as PointFlows;
}

export interface PointsMonth { month: string; issued: number; redeemed: number; expired: number; outstanding: number }

/**
 * pointFlows month by month in `timezone`: every month (YYYY-MM) that [from, to) touches, the
 * first and last clipped to it, each with what was issued, redeemed and expired in it and what
 * members held at its end (before `to`, in the month `to` falls in). One pass over the ledger
 * before `to`, where pointFlows once per month reads it once a month.
 */
export async function pointsByMonth(db: Db, from: Date, to: Date, timezone: string, n: Narrowing): Promise<PointsMonth[]> {
  const { rows } = await sql<PointsMonth>`
    with flows as (
      select date_trunc('month', t.created_at at time zone ${timezone}) as starts,
        ${flowSums(sql`t.created_at >= ${from}`)}, sum(t.points) as net
      from points_transactions t
      where not t.cancelled and t.created_at < ${to} and ${within(sql`t.member_id`, n)}
      group by 1
    ), months as (
      select m as starts from generate_series(date_trunc('month', ${from}::timestamptz at time zone ${timezone}),
        date_trunc('month', (${to}::timestamptz - interval '1 microsecond') at time zone ${timezone}), interval '1 month') m
    )
    select to_char(m.starts, 'YYYY-MM') as month, coalesce(f.issued, 0)::int8 as issued, coalesce(f.redeemed, 0)::int8 as redeemed,
      coalesce(f.expired, 0)::int8 as expired, coalesce((select sum(p.net) from flows p where p.starts <= m.starts), 0)::int8 as outstanding
    from months m left join flows f on f.starts = m.starts
    order by m.starts
  `.execute(db);
  return rows;
}
