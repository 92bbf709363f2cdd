/**
 * The loyalty measurements' decisions, as pure functions: NPS, the loyalty ladder, churn risk,
 * health, RFM scores and segments, and the Pareto split. The SQL of insights.repo.ts only
 * gathers facts and counts the outcomes these functions give (timestamps at which a member's
 * stage or risk changes), so each rule is written here once. docs/insights.md explains them.
 */

export type NpsCategory = 'PROMOTER' | 'PASSIVE' | 'DETRACTOR';
export type LadderStage = 'SUSPECT' | 'PROSPECT' | 'FIRST_TIME' | 'REPEAT' | 'ADVOCATE';
export type ChurnRisk = 'LOW' | 'MEDIUM' | 'HIGH';
export type Health = 'GOOD' | 'AVERAGE' | 'POOR';

export const LADDER: readonly LadderStage[] = ['SUSPECT', 'PROSPECT', 'FIRST_TIME', 'REPEAT', 'ADVOCATE'];
export const CHURN_RISKS: readonly ChurnRisk[] = ['LOW', 'MEDIUM', 'HIGH'];

const DAY_MS = 86_400_000;

/** 9–10 PROMOTER, 7–8 PASSIVE, 0–6 DETRACTOR. */
export function npsCategory(score: number): NpsCategory {
  if (score >= 9) return 'PROMOTER';
  if (score >= 7) return 'PASSIVE';
  return 'DETRACTOR';
}

/** 100 × (promoters − detractors) ÷ responses, one decimal; null without responses. */
export function npsScore(promoters: number, detractors: number, responses: number): number | null {
  if (responses === 0) return null;
  return Math.round((1000 * (promoters - detractors)) / responses) / 10;
}

/** How many of `buyers` are the top 20 %: ceil(20 % of buyers). */
export function topBuyerCount(buyers: number): number {
  return Math.ceil(buyers / 5);
}

/** A share as a fraction with four decimals; null when the whole is zero. */
export function share(part: number, whole: number): number | null {
  if (whole === 0) return null;
  return Math.round((part / whole) * 10_000) / 10_000;
}

/** What the ladder is decided from, for one member (purchases fully refunded are not counted). */
export interface LadderFacts {
  /** Counted purchases, oldest first (only the first two matter). */
  purchaseTimes: readonly Date[];
  /** The first engagement: an event sent through recordEvent, a survey answer or a complaint. */
  firstEngagement: Date | null;
  /** The first referral of this member's that was rewarded. */
  firstRewardedReferral: Date | null;
  /** The member's latest survey answer. */
  latestAnswer: { score: number; at: Date } | null;
}

/** The instants at which a member reached each rung (null: not reached). */
export interface LadderTimeline {
  prospectAt: Date | null;
  firstTimeAt: Date | null;
  repeatAt: Date | null;
  advocateAt: Date | null;
}

const later = (a: Date, b: Date) => (a.getTime() >= b.getTime() ? a : b);
const earlier = (a: Date | null, b: Date | null) => (a === null ? b : b === null ? a : a.getTime() <= b.getTime() ? a : b);

/**
 * SUSPECT until some engagement (PROSPECT), FIRST_TIME at the first purchase, REPEAT at the
 * second, ADVOCATE once REPEAT with a rewarded referral or a latest answer of 9–10 (from the
 * later of the two moments).
 */
export function ladderTimeline(facts: LadderFacts): LadderTimeline {
  const [first = null, second = null] = facts.purchaseTimes;
  const promoterSince = facts.latestAnswer && npsCategory(facts.latestAnswer.score) === 'PROMOTER' ? facts.latestAnswer.at : null;
  const advocacy = earlier(facts.firstRewardedReferral, promoterSince);
  return {
    prospectAt: facts.firstEngagement,
    firstTimeAt: first,
    repeatAt: second,
    advocateAt: second && advocacy ? later(second, advocacy) : null,
  };
}

/** The rung a member stands on at `at`: the highest reached by then. */
export function stageAt(timeline: LadderTimeline, at: Date): LadderStage {
  const by = (t: Date | null) => t !== null && t.getTime() <= at.getTime();
  return highestReached({ prospect: by(timeline.prospectAt), firstTime: by(timeline.firstTimeAt), repeat: by(timeline.repeatAt), advocate: by(timeline.advocateAt) });
}

/** Which rungs a member had reached at some instant (a count groups members by this). */
export interface Reached { prospect: boolean; firstTime: boolean; repeat: boolean; advocate: boolean }

export function highestReached(reached: Reached): LadderStage {
  if (reached.advocate) return 'ADVOCATE';
  if (reached.repeat) return 'REPEAT';
  if (reached.firstTime) return 'FIRST_TIME';
  if (reached.prospect) return 'PROSPECT';
  return 'SUSPECT';
}

/** The gap a member's churn risk is measured against: its own average with two purchases or more, else the programme's median. */
export interface UsualGap { days: number; own: boolean }

/**
 * The shortest usual gap: a member who bought twice in a day is not at risk the day after.
 * Gaps shorter than a week count as a week.
 */
export const MIN_USUAL_GAP_DAYS = 7;

export function usualGap(purchases: number, ownAverageDays: number | null, programmeMedianDays: number | null): UsualGap | null {
  if (purchases >= 2 && ownAverageDays !== null) return { days: Math.max(MIN_USUAL_GAP_DAYS, ownAverageDays), own: true };
  if (programmeMedianDays !== null) return { days: Math.max(MIN_USUAL_GAP_DAYS, programmeMedianDays), own: false };
  return null;
}

/** Average days between the first and last of `purchases` purchases; null with fewer than two. */
export function averageGapDays(purchases: number, first: Date | null, last: Date | null): number | null {
  if (purchases < 2 || !first || !last) return null;
  return (last.getTime() - first.getTime()) / DAY_MS / (purchases - 1);
}

/** The instants a member's risk becomes MEDIUM (1.5 × the gap after its last purchase) and HIGH (3 ×). */
export function churnThresholds(lastPurchase: Date | null, gap: UsualGap | null): { mediumAt: Date; highAt: Date } | null {
  if (!lastPurchase || !gap) return null;
  return {
    mediumAt: new Date(lastPurchase.getTime() + 1.5 * gap.days * DAY_MS),
    highAt: new Date(lastPurchase.getTime() + 3 * gap.days * DAY_MS),
  };
}

/** HIGH when d > 3g, MEDIUM when d > 1.5g, else LOW (and LOW with no purchase or no gap to measure by). */
export function churnRiskAt(thresholds: { mediumAt: Date; highAt: Date } | null, at: Date): ChurnRisk {
  if (!thresholds) return 'LOW';
  return riskOfPassed({ medium: at.getTime() > thresholds.mediumAt.getTime(), high: at.getTime() > thresholds.highAt.getTime() });
}

/** The risk of a member that has passed these thresholds (a count groups members by this). */
export function riskOfPassed(passed: { medium: boolean; high: boolean }): ChurnRisk {
  if (passed.high) return 'HIGH';
  if (passed.medium) return 'MEDIUM';
  return 'LOW';
}

const days = (n: number) => `${Math.round(n)} day${Math.round(n) === 1 ? '' : 's'}`;

/** Why a member's risk is what it is, in words a loyalty manager reads. */
export function churnReasons(input: {
  risk: ChurnRisk; purchases: number; daysSinceLast: number | null; gap: UsualGap | null;
  latestScore: number | null; complaintsOpen: number;
}): string[] {
  const { risk, purchases, daysSinceLast, gap } = input;
  if (purchases === 0 || daysSinceLast === null) return ['No purchase yet'];
  if (!gap) return [`Last purchase ${days(daysSinceLast)} ago; no usual gap to compare with yet`];
  const whose = gap.own ? 'its own average' : "the programme's median";
  const ratio = Math.round((daysSinceLast / gap.days) * 10) / 10;
  const reasons = risk === 'LOW'
    ? [`Last purchase ${days(daysSinceLast)} ago, within the usual gap of ${days(gap.days)} (${whose})`]
    : [`No purchase for ${days(daysSinceLast)}: ${ratio}× the usual gap of ${days(gap.days)} (${whose})`];
  if (risk !== 'LOW' && purchases === 1) reasons.push('Bought only once');
  if (risk !== 'LOW' && input.latestScore !== null && npsCategory(input.latestScore) === 'DETRACTOR') {
    reasons.push(`Latest NPS answer ${input.latestScore} (detractor)`);
  }
  if (risk !== 'LOW' && input.complaintsOpen > 0) reasons.push(`${input.complaintsOpen} complaint${input.complaintsOpen === 1 ? '' : 's'} open`);
  return reasons;
}

/**
 * Health from activity and recent experience, as a score: activity LOW risk 2, MEDIUM 1, HIGH 0
 * (no purchase yet 1); a promoter's latest answer +1, a detractor's −1; −1 for open complaints,
 * −1 more when one is past the SLA. GOOD at 2 or more, AVERAGE at 1, POOR at 0 or less.
 */
export function health(input: {
  purchases: number; risk: ChurnRisk; latestScore: number | null; complaintsOpen: number; complaintsPastSla: number;
}): Health {
  let score = input.purchases === 0 ? 1 : input.risk === 'LOW' ? 2 : input.risk === 'MEDIUM' ? 1 : 0;
  if (input.latestScore !== null) {
    const category = npsCategory(input.latestScore);
    if (category === 'PROMOTER') score += 1;
    if (category === 'DETRACTOR') score -= 1;
  }
  if (input.complaintsOpen > 0) score -= 1;
  if (input.complaintsPastSla > 0) score -= 1;
  if (score >= 2) return 'GOOD';
  if (score === 1) return 'AVERAGE';
  return 'POOR';
}

/** Quintile breaks of RFM: the 20th, 40th, 60th and 80th percentiles of each measure across buyers. */
export interface RfmBreaks { recency: readonly number[]; frequency: readonly number[]; monetary: readonly number[] }

/** 1–5 by how many breaks `value` passes (higher is better); for recency fewer days is better. */
function quintile(value: number, breaks: readonly number[], lowerIsBetter: boolean): number {
  return 1 + breaks.filter((b) => (lowerIsBetter ? value <= b : value > b)).length;
}

export interface RfmScore { recency: number; frequency: number; monetary: number; segment: string }

export function rfmScore(measure: { recencyDays: number; frequency: number; monetary: number }, breaks: RfmBreaks): RfmScore {
  const r = quintile(measure.recencyDays, breaks.recency, true);
  const f = quintile(measure.frequency, breaks.frequency, false);
  const m = quintile(measure.monetary, breaks.monetary, false);
  return { recency: r, frequency: f, monetary: m, segment: rfmSegment(r, f, m) };
}

/**
 * The named segment of an R, F, M score, first match wins (docs/insights.md has the grid):
 * Champions, Loyal, Can't lose them, At risk, Potential loyalists, New, Promising, Need
 * attention, About to sleep, Hibernating, Lost.
 */
export function rfmSegment(r: number, f: number, m: number): string {
  if (r >= 4 && f >= 4 && m >= 4) return 'Champions';
  if (r >= 3 && f >= 4) return 'Loyal';
  if (r === 1 && f >= 4 && m >= 4) return "Can't lose them";
  if (r <= 2 && f >= 3) return 'At risk';
  if (r >= 4 && f >= 2) return 'Potential loyalists';
  if (r === 5 && f === 1) return 'New';
  if (r === 4 && f === 1) return 'Promising';
  if (r === 3 && f >= 2) return 'Need attention';
  if (r === 3) return 'About to sleep';
  if (r === 2) return 'Hibernating';
  return 'Lost';
}

/**
 * The year every 365-day figure is measured over: a member's frequency and spend, the RFM
 * breaks, and the summary's windows (the 365 days up to its refresh, and the 365 before those).
 */
export const YEAR_MS = 365 * DAY_MS;
/** How old a summary may be for its year to stand for the year up to now. */
const SUMMARY_STANDS_FOR_NOW_MS = 3_600_000;
/** How far ahead of the service's clock a caller's "now" may be. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Which buyer figures of a range the loyalty summary answers. Its year stands for the range
 * when the range is 365 days long and ends between the summary's refresh and now, with the
 * summary at most an hour old: repeat rate and Pareto then come from it, and retention too when
 * the base is the 365 days before the range. Any other range is counted from the orders.
 */
export function summaryAnswers(input: {
  range: { from: Date; to: Date };
  base: { from: Date; to: Date } | null;
  refreshedAt: Date | null;
  now: Date;
}): { buyers: boolean; retention: boolean } {
  const { range, base, refreshedAt, now } = input;
  const to = range.to.getTime();
  const buyers = refreshedAt !== null
    && now.getTime() - refreshedAt.getTime() <= SUMMARY_STANDS_FOR_NOW_MS
    && to >= refreshedAt.getTime() && to <= now.getTime() + CLOCK_SKEW_MS
    && to - range.from.getTime() === YEAR_MS;
  const retention = buyers && base !== null
    && base.to.getTime() === range.from.getTime() && base.to.getTime() - base.from.getTime() === YEAR_MS;
  return { buyers, retention };
}
