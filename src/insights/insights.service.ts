/**
 * Loyalty insights: a member's loyalty profile (Member.loyalty), the programme's figures for a
 * range (programInsights), and the summary the maintenance pass refreshes so that counts over
 * every member read one small row each. Reads go to the read replica when one is configured
 * (Ctx.reads); docs/insights.md gives the definitions.
 */
import type { Logger } from 'pino';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import { BadInputError } from '../errors';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { effectiveTier, lowest } from '../tiers/tiers.engine';
import { findByIds } from '../members/members.repo';
import { fromUnits, mulDivRound, toUnits } from '../money';
import * as repo from './insights.repo';
import {
  CHURN_RISKS, LADDER, averageGapDays, churnReasons, churnRiskAt, churnThresholds, health, highestReached, ladderTimeline, npsCategory, npsScore, rfmScore,
  riskOfPassed, share, stageAt, summaryAnswers, topBuyerCount, usualGap, type ChurnRisk, type Health, type LadderStage, type LadderTimeline, type NpsCategory, type RfmScore,
} from './loyalty.rules';

const DAY_MS = 86_400_000;

export interface MemberLoyaltyView {
  recencyDays: number | null;
  frequency: number;
  monetary: string;
  rfm: RfmScore | null;
  purchaseCount: number;
  repeatPurchases: number;
  avgDaysBetweenPurchases: number | null;
  channels: string[];
  referralsMade: number;
  complaintsFiled: number;
  complaintsOpen: number;
  lastNps: number | null;
  npsCategory: NpsCategory | null;
  stage: LadderStage;
  health: Health;
  churnRisk: ChurnRisk;
  churnReasons: string[];
  /** When the programme-wide figures the RFM scores and one-time buyers' gap are measured against were computed. */
  asOf: Date;
}

/** The programme-wide figures: as the last refresh stored them, or computed now when none has run yet. */
async function figures(db: Db, now: Date): Promise<{ figures: repo.ProgrammeFigures; asOf: Date }> {
  const stored = await repo.findSummary(db);
  if (stored) return { figures: stored, asOf: stored.full_refreshed_at };
  return { figures: await repo.programmeFigures(db, now), asOf: now };
}

/** What a member's facts say, at `now`, against the programme's figures. */
function profile(facts: repo.MemberFacts, programme: repo.ProgrammeFigures, now: Date) {
  const last = facts.last_purchase_at;
  const gapDays = averageGapDays(facts.purchases, facts.first_purchase_at, last);
  const gap = usualGap(facts.purchases, gapDays, programme.median_gap_days);
  const thresholds = churnThresholds(last, gap);
  const timeline: LadderTimeline = ladderTimeline({
    purchaseTimes: [facts.first_purchase_at, facts.second_purchase_at].filter((t): t is Date => t !== null),
    firstEngagement: facts.first_engagement,
    firstRewardedReferral: facts.first_rewarded_referral,
    latestAnswer: facts.latest_score === null || !facts.latest_answer_at ? null : { score: facts.latest_score, at: facts.latest_answer_at },
  });
  return { gapDays, gap, thresholds, timeline, risk: churnRiskAt(thresholds, now) };
}

/** A member's loyalty profile, now (ADMIN, PARTNER, MEMBER itself: the Member type's own access). */
export async function memberLoyalty(ctx: Ctx, member: MemberRow): Promise<MemberLoyaltyView> {
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  const [[facts], programme] = await Promise.all([
    repo.memberFacts(ctx.reads, [member.id], now, program.complaint_sla_hours),
    figures(ctx.reads, now),
  ]);
  if (!facts) throw new Error(`no facts for member ${member.id}`);
  const { gapDays, gap, timeline, risk } = profile(facts, programme.figures, now);
  const last = facts.last_purchase_at;
  const recencyDays = last ? Math.max(0, Math.floor((now.getTime() - last.getTime()) / DAY_MS)) : null;
  const monetary = facts.spend_365;
  const { recency_breaks: recency, frequency_breaks: frequency, monetary_breaks: monetaryBreaks } = programme.figures;
  return {
    recencyDays,
    frequency: facts.frequency_365,
    monetary,
    rfm: recencyDays === null ? null : rfmScore({ recencyDays, frequency: facts.frequency_365, monetary: Number(monetary) }, { recency, frequency, monetary: monetaryBreaks }),
    purchaseCount: facts.purchases,
    repeatPurchases: Math.max(0, facts.purchases - 1),
    avgDaysBetweenPurchases: gapDays === null ? null : Math.round(gapDays * 10) / 10,
    channels: facts.channels,
    referralsMade: facts.referrals_made,
    complaintsFiled: facts.complaints_filed,
    complaintsOpen: facts.complaints_open,
    lastNps: facts.latest_score,
    npsCategory: facts.latest_score === null ? null : npsCategory(facts.latest_score),
    stage: stageAt(timeline, now),
    health: health({ purchases: facts.purchases, risk, latestScore: facts.latest_score, complaintsOpen: facts.complaints_open, complaintsPastSla: facts.complaints_past_sla }),
    churnRisk: risk,
    churnReasons: churnReasons({
      risk, purchases: facts.purchases, daysSinceLast: last ? (now.getTime() - last.getTime()) / DAY_MS : null, gap,
      latestScore: facts.latest_score, complaintsOpen: facts.complaints_open,
    }),
    asOf: programme.asOf,
  };
}

// ---- The summary ---------------------------------------------------------------------------

/** How long a summary refreshed member by member may go before every member is visited again. */
const FULL_REFRESH_MS = 24 * 3_600_000;
const BATCH = 1000;
/** How far before the last refresh the next one looks for changes: longer than any write's transaction. */
const OVERLAP_MS = 5 * 60_000;

export interface RefreshReport { members: number; full: boolean; ms: number }

/**
 * Brings the summary up to `now`: the programme-wide figures, then the rows of the members
 * whose facts changed since the last refresh (all members once a day, at the first refresh,
 * and when `everyone` is asked for: rows written with past dates, as the seed writes them, are
 * not found by what changed since). Part of the maintenance pass.
 */
export async function refreshLoyalty(db: Db, now: Date, logger?: Logger, { everyone = false } = {}): Promise<RefreshReport> {
  const started = Date.now();
  const program = await getProgram(db);
  const previous = await repo.findSummary(db);
  const full = everyone || !previous || now.getTime() - previous.full_refreshed_at.getTime() >= FULL_REFRESH_MS
    || now.getTime() < previous.refreshed_at.getTime();
  // The programme-wide figures aggregate every order: taken anew with each full refresh only.
  const programme = full || !previous ? await repo.programmeFigures(db, now) : previous;
  let members = 0;
  const refresh = async (ids: string[]) => {
    const facts = await repo.memberFacts(db, ids, now, program.complaint_sla_hours);
    await repo.saveMemberRows(db, ids, facts.flatMap((f) => summaryRow(f, programme, now)));
    members += ids.length;
  };
  if (full) {
    for (let after: string | null = null; ;) {
      const ids = await repo.memberIdsAfter(db, after, BATCH);
      if (ids.length > 0) await refresh(ids);
      if (ids.length < BATCH) break;
      after = ids.at(-1) as string;
    }
  } else {
    // From a little before the last refresh: a change whose transaction was still open then, or
    // that carries the same instant, is taken this time (refreshing a member twice is harmless).
    const since = new Date(previous.refreshed_at.getTime() - OVERLAP_MS);
    const changed = await repo.membersChangedSince(db, since, now);
    for (let i = 0; i < changed.length; i += BATCH) await refresh(changed.slice(i, i + BATCH));
  }
  await repo.saveSummary(db, programme, now, full, previous);
  const ms = Date.now() - started;
  if (members > 0) logger?.info({ members, full, ms }, 'loyalty summary refreshed');
  return { members, full, ms };
}

/**
 * A member's summary row, or none for a member with no purchase and no engagement (SUSPECT). An
 * erased member keeps its row, marked: its purchases still count in the buyer figures, as the
 * orders do, and it counts in no stage or risk.
 */
function summaryRow(facts: repo.MemberFacts, programme: repo.ProgrammeFigures, now: Date): repo.MemberLoyaltyRow[] {
  const { timeline, thresholds } = profile(facts, programme, now);
  if (facts.purchases === 0 && timeline.prospectAt === null) return [];
  return [{
    member_id: facts.member_id, purchases: facts.purchases, last_purchase_at: facts.last_purchase_at,
    prospect_at: timeline.prospectAt, first_time_at: timeline.firstTimeAt, repeat_at: timeline.repeatAt, advocate_at: timeline.advocateAt,
    churn_medium_at: thresholds?.mediumAt ?? null, churn_high_at: thresholds?.highAt ?? null,
    spend_365: facts.spend_365, frequency_365: facts.frequency_365,
    spend_prior_365: facts.spend_prior_365, frequency_prior_365: facts.frequency_prior_365, enrolled_at: facts.enrolled_at, erased: facts.erased, refreshed_at: now,
  }];
}

// ---- Programme insights --------------------------------------------------------------------

export interface InsightsArgs {
  from: Date; to: Date; baseFrom?: Date | null; baseTo?: Date | null; tag?: string | null; tier?: string | null;
}

export interface Count { key: string; count: number }

/** The figures of programInsights; each field is computed when asked for (insights.resolvers.ts). */
export class ProgramInsightsView {
  constructor(
    readonly db: Db,
    readonly program: ProgramView,
    readonly range: { from: Date; to: Date },
    readonly base: { from: Date; to: Date } | null,
    /** The instant states are read at: `to`, or now when `to` is later. */
    readonly at: Date,
    readonly narrowing: repo.Narrowing,
    readonly summaryAsOf: Date | null,
    /** Which buyer figures the summary's year answers (loyalty.rules summaryAnswers). */
    readonly fromSummary: { buyers: boolean; retention: boolean },
  ) {}

  private memo = new Map<string, Promise<unknown>>();
  private once<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let hit = this.memo.get(key) as Promise<T> | undefined;
    if (!hit) this.memo.set(key, (hit = compute()));
    return hit;
  }

  async nps() {
    const { from, to } = this.range;
    const [total, months] = await Promise.all([
      repo.npsCounts(this.db, from, to, this.narrowing),
      repo.npsByMonth(this.db, from, to, this.program.timezone, this.narrowing),
    ]);
    return {
      ...total, score: npsScore(total.promoters, total.detractors, total.responses),
      monthly: months.map((m) => ({ month: m.month, responses: m.responses, score: npsScore(m.promoters, m.detractors, m.responses) })),
    };
  }

  async retention() {
    if (!this.base) return null;
    const { base_active: baseActive, retained } = this.fromSummary.retention
      ? await repo.summaryRetention(this.db, this.narrowing)
      : await repo.retention(this.db, this.base, this.range, this.narrowing);
    return { baseActive, retained, rate: share(retained, baseActive) };
  }

  private buyers() {
    return this.once('buyers', () => (this.fromSummary.buyers
      ? repo.summaryBuyerSpend(this.db, this.narrowing)
      : repo.buyerSpend(this.db, this.range.from, this.range.to, this.narrowing)));
  }

  async repeatPurchaseRate() {
    const { buyers, repeat_buyers: repeat } = await this.buyers();
    return share(repeat, buyers);
  }

  async pareto() {
    const { buyers, top_spend: top, revenue } = await this.buyers();
    const cents = (v: string) => Number(toUnits(v, 2));
    return { buyers, topBuyers: topBuyerCount(buyers), topShare: share(cents(top), cents(revenue)), revenue };
  }

  /** Members enrolled by `at` and not erased (within the narrowing). */
  private members() {
    return this.once('members', () => repo.membersAt(this.db, this.at, this.narrowing));
  }

  async membersByTier(): Promise<Count[]> {
    const [groups, members] = await Promise.all([repo.tierGroups(this.db, this.at, this.narrowing), this.members()]);
    const bottom = lowest(this.program).code;
    const counts = new Map(this.program.tiers.map((t) => [t.code, 0]));
    let stated = 0;
    for (const g of groups) {
      // The assignment was active at `at` when the group has one (tierGroups reads it so).
      const state = { tier_code: g.earned, assigned_code: g.assigned, assigned_until: g.assigned ? new Date(this.at.getTime() + 1) : null };
      const tier = effectiveTier(this.program, state, this.at);
      counts.set(tier.code, (counts.get(tier.code) ?? 0) + g.count);
      stated += g.count;
    }
    // Members with no tier state hold the lowest rung.
    counts.set(bottom, (counts.get(bottom) ?? 0) + Math.max(0, members - stated));
    return [...counts].map(([key, count]) => ({ key, count }));
  }

  /** Stage and risk counts, from the summary grouped by the thresholds passed at `at`. */
  private summaryCounts() {
    return this.once('summary', async () => {
      const [groups, members] = await Promise.all([repo.summaryGroups(this.db, this.at, this.narrowing), this.members()]);
      const stages = new Map<string, number>(LADDER.map((s) => [s, 0]));
      const risks = new Map<string, number>(CHURN_RISKS.map((r) => [r, 0]));
      let summarised = 0;
      for (const g of groups) {
        const stage = highestReached({ prospect: g.prospect, firstTime: g.first_time, repeat: g.repeat, advocate: g.advocate });
        const risk = riskOfPassed({ medium: g.medium, high: g.high });
        stages.set(stage, (stages.get(stage) ?? 0) + g.count);
        risks.set(risk, (risks.get(risk) ?? 0) + g.count);
        summarised += g.count;
      }
      // Members with no summary row have neither purchased nor engaged: SUSPECT, LOW.
      stages.set('SUSPECT', (stages.get('SUSPECT') ?? 0) + Math.max(0, members - summarised));
      risks.set('LOW', (risks.get('LOW') ?? 0) + Math.max(0, members - summarised));
      return { stages, risks };
    });
  }

  async membersByStage(): Promise<Count[]> {
    return [...(await this.summaryCounts()).stages].map(([key, count]) => ({ key, count }));
  }

  async churnRisk(): Promise<Count[]> {
    return [...(await this.summaryCounts()).risks].map(([key, count]) => ({ key, count }));
  }

  async atRisk(first: number): Promise<MemberRow[]> {
    if (!Number.isInteger(first) || first < 1 || first > 100) throw new BadInputError('first must be 1-100', 'first');
    const ids = await repo.atRiskIds(this.db, this.at, first, this.narrowing);
    const rows = await findByIds(this.db, ids);
    const byId = new Map(rows.map((m) => [m.id, m]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async complaints() {
    const sla = this.program.complaint_sla_hours;
    const f = await repo.complaintFigures(this.db, this.range.from, this.range.to, this.at, sla, this.narrowing);
    const round = (h: number | null) => (h === null ? null : Math.round(h * 10) / 10);
    return {
      filed: f.filed, resolved: f.resolved, open: f.open,
      medianHoursToResolve: round(f.median_hours), p90HoursToResolve: round(f.p90_hours), resolvedWithinSla: share(f.within_sla, f.resolved),
    };
  }

  async points() {
    const f = await repo.pointFlows(this.db, this.range.from, this.range.to, this.at, this.narrowing);
    // pointValue has six decimal places; the liability is rounded half up to cents.
    const micro = BigInt(Math.max(0, f.outstanding)) * toUnits(this.program.point_value, 6);
    return {
      issued: f.issued, redeemed: f.redeemed, expired: f.expired, outstanding: f.outstanding,
      liabilityValue: fromUnits(mulDivRound(micro, 1n, 10_000n), 2), breakageRate: share(f.expired, f.issued),
    };
  }

  pointsByMonth(): Promise<repo.PointsMonth[]> {
    return repo.pointsByMonth(this.db, this.range.from, this.range.to, this.program.timezone, this.narrowing);
  }
}

const MAX_RANGE_MS = 10 * 366 * DAY_MS;

function checkRange(from: Date, to: Date, field: string): void {
  if (from.getTime() >= to.getTime()) throw new BadInputError(`${field}: from must be before to`, field);
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw new BadInputError(`${field}: a range is at most 10 years`, field);
}

/** The programme's figures for a range (ADMIN); each is computed when its field is asked for. */
export async function programInsights(ctx: Ctx, args: InsightsArgs): Promise<ProgramInsightsView> {
  checkRange(args.from, args.to, 'from');
  const hasBase = args.baseFrom != null || args.baseTo != null;
  if (hasBase && (args.baseFrom == null || args.baseTo == null)) throw new BadInputError('baseFrom and baseTo go together', 'baseFrom');
  if (hasBase) checkRange(args.baseFrom as Date, args.baseTo as Date, 'baseFrom');
  const program = await getProgram(ctx.db);
  const tag = args.tag?.trim() || null;
  const tier = args.tier?.trim() || null;
  if (tier !== null && !program.tiers.some((t) => t.code === tier)) throw new BadInputError(`No tier ${tier}`, 'tier');
  const now = await ctx.now();
  const at = args.to.getTime() < now.getTime() ? args.to : now;
  const summary = await repo.findSummary(ctx.reads);
  const range = { from: args.from, to: args.to };
  const base = hasBase ? { from: args.baseFrom as Date, to: args.baseTo as Date } : null;
  const refreshedAt = summary?.refreshed_at ?? null;
  return new ProgramInsightsView(
    ctx.reads, program, range, base, at, { tag, tier, lowest: lowest(program).code }, refreshedAt,
    summaryAnswers({ range, base, refreshedAt, now }),
  );
}
