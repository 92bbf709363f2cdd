/**
 * Pure tier rules: periods and windows, threshold tests, movement targets, streaks, switching
 * cost arithmetic. No I/O; tiers.service.ts feeds them history read from the database.
 */
import type { DowngradeMode, QualificationWindow, StreakPeriod } from '../db/schema';
import { addMonths } from '../ledger/ledger.rules';
import { fromUnits, mulDivRound, toUnits } from '../money';
import type { TierView } from '../program/program.types';

/** A half-open interval [from, to). */
export interface Window {
  from: Date;
  to: Date;
}

/** What a member did inside a window. Spend is in minor units (cents). */
export interface Metrics {
  points: number;
  spendCents: number;
  purchases: number;
}

const MS = 1;

/**
 * The status period holding `at`: the calendar year (UTC) for the rolling and calendar-year
 * windows, the membership year from `anchor` (enrolment) for the anniversary window.
 */
export function statusPeriod(kind: QualificationWindow, anchor: Date, at: Date): Window {
  if (kind !== 'ANNIVERSARY_YEAR') {
    const year = at.getUTCFullYear();
    return { from: new Date(Date.UTC(year, 0, 1)), to: new Date(Date.UTC(year + 1, 0, 1)) };
  }
  let years = at.getUTCFullYear() - anchor.getUTCFullYear();
  if (addMonths(anchor, 12 * years).getTime() > at.getTime()) years -= 1;
  return { from: addMonths(anchor, 12 * years), to: addMonths(anchor, 12 * (years + 1)) };
}

/** Status gained at `at` is held to the end of the following period. */
export function validityEnd(kind: QualificationWindow, anchor: Date, at: Date): Date {
  const current = statusPeriod(kind, anchor, at);
  return statusPeriod(kind, anchor, current.to).to;
}

/**
 * Which qualifying activity counts at `at`: the rolling 12 months up to and including `at`
 * (points earned at instant e count while at < e + 12 months), or the period so far.
 */
export function qualificationWindow(kind: QualificationWindow, anchor: Date, at: Date): Window {
  const to = new Date(at.getTime() + MS);
  if (kind === 'ROLLING_12_MONTHS') return { from: new Date(addMonths(at, -12).getTime() + MS), to };
  return { from: statusPeriod(kind, anchor, at).from, to };
}

/**
 * The window a review at `reviewAt` judges, for a status whose period ended at `periodEnd`
 * (reviewAt is later only by a grace period): the 12 months before reviewAt, or the period
 * that ended plus whatever was earned during the grace.
 */
export function reviewWindow(kind: QualificationWindow, anchor: Date, periodEnd: Date, reviewAt: Date): Window {
  if (kind === 'ROLLING_12_MONTHS') return { from: addMonths(reviewAt, -12), to: reviewAt };
  return { from: statusPeriod(kind, anchor, new Date(periodEnd.getTime() - MS)).from, to: reviewAt };
}

/** A tier's qualification thresholds: points always, spend (cents) and purchases where set. */
export interface TierThresholds {
  points: number;
  spendCents: number | null;
  purchases: number | null;
  /** Every threshold set must be met (ALL), or any one of them (ANY). */
  matchAll: boolean;
}

export function thresholdsOf(tier: TierView): TierThresholds {
  return {
    points: tier.qualifying_points_required,
    spendCents: tier.qualifying_spend_required == null ? null : Number(toUnits(tier.qualifying_spend_required, 2)),
    purchases: tier.qualifying_purchases_required ?? null,
    matchAll: tier.threshold_match === 'ALL',
  };
}

/**
 * Whether `m` meets the tier's thresholds: any one of those set (ANY) or every one (ALL).
 */
export function meetsTier(tier: TierView, m: Metrics): boolean {
  const t = thresholdsOf(tier);
  const checks: boolean[] = [m.points >= t.points];
  if (t.spendCents !== null) checks.push(m.spendCents >= t.spendCents);
  if (t.purchases !== null) checks.push(m.purchases >= t.purchases);
  return t.matchAll ? checks.every(Boolean) : checks.some(Boolean);
}

/** The highest earnable tier `m` qualifies for; the lowest rung when none. Invitation-only tiers are never earned. */
export function qualifiedTier(ladder: TierView[], m: Metrics): TierView {
  let best = ladder[0] as TierView;
  for (const tier of ladder) if (!tier.invitation_only && tier.rank > best.rank && meetsTier(tier, m)) best = tier;
  return best;
}

/** The highest tier whose lifetime threshold `lifetimePoints` reaches, or null. */
export function lifetimeTier(ladder: TierView[], lifetimePoints: number): TierView | null {
  let best: TierView | null = null;
  for (const tier of ladder) {
    const need = tier.lifetime_qualifying_points_required;
    if (need != null && lifetimePoints >= need && (!best || tier.rank > best.rank)) best = tier;
  }
  return best;
}

export function higher(a: TierView, b: TierView | null | undefined): TierView {
  return b && b.rank > a.rank ? b : a;
}

/** The earnable tier one rung below `current` (the lowest rung at the bottom). */
export function oneBelow(ladder: TierView[], current: TierView): TierView {
  let below = ladder[0] as TierView;
  for (const tier of ladder) if (!tier.invitation_only && tier.rank < current.rank && tier.rank > below.rank) below = tier;
  return below;
}

/** The next earnable tier above `current`, if any. */
export function nextTierAbove(ladder: TierView[], current: TierView): TierView | null {
  return ladder.find((t) => !t.invitation_only && t.rank > current.rank) ?? null;
}

/**
 * Where a review that found `qualified` leaves a member holding `current`: one rung down (but
 * never below what they qualified for) or straight to the qualified tier; never below `floor`.
 */
export function downgradeTarget(ladder: TierView[], current: TierView, qualified: TierView, mode: DowngradeMode, floor: TierView | null): TierView {
  const target = mode === 'ONE_TIER' ? higher(oneBelow(ladder, current), qualified) : qualified;
  return higher(target, floor);
}

/** What is still missing to meet a tier: zero once met. Spend in cents. */
export function shortfall(tier: TierView, m: Metrics): Metrics {
  return {
    points: Math.max(0, tier.qualifying_points_required - m.points),
    spendCents: tier.qualifying_spend_required == null ? 0 : Math.max(0, Number(toUnits(tier.qualifying_spend_required, 2)) - m.spendCents),
    purchases: tier.qualifying_purchases_required == null ? 0 : Math.max(0, tier.qualifying_purchases_required - m.purchases),
  };
}

/** The first instant of the streak period holding `at` (UTC months or quarters). */
export function streakPeriodStart(period: StreakPeriod, at: Date): Date {
  const month = period === 'QUARTER' ? Math.floor(at.getUTCMonth() / 3) * 3 : at.getUTCMonth();
  return new Date(Date.UTC(at.getUTCFullYear(), month, 1));
}

export function streakPeriodShift(period: StreakPeriod, start: Date, periods: number): Date {
  return addMonths(start, periods * (period === 'QUARTER' ? 3 : 1));
}

export interface StreakState {
  /** Consecutive active periods ending with the current one, or the previous one if the current is not active yet. */
  length: number;
  currentPeriodActive: boolean;
  currentPeriodStart: Date;
  /** No qualifying activity before this instant ends the streak (null when there is none to break). */
  breaksAt: Date | null;
  /** Start of each period in the run that completed a multiple of `every` (bonus keys), oldest first. */
  completed: { periodStart: Date; length: number }[];
}

/** The member's streak at `now` from the starts of periods with qualifying activity. */
export function streakAt(period: StreakPeriod, activeStarts: Date[], now: Date, every: number | null): StreakState {
  const active = new Set(activeStarts.map((d) => streakPeriodStart(period, d).getTime()));
  const currentPeriodStart = streakPeriodStart(period, now);
  const currentPeriodActive = active.has(currentPeriodStart.getTime());
  let cursor = currentPeriodActive ? currentPeriodStart : streakPeriodShift(period, currentPeriodStart, -1);
  const run: Date[] = [];
  while (active.has(cursor.getTime())) {
    run.unshift(cursor);
    cursor = streakPeriodShift(period, cursor, -1);
  }
  const completed = every ? run.map((start, i) => ({ periodStart: start, length: i + 1 })).filter((r) => r.length % every === 0) : [];
  const breaksAt = run.length === 0 ? null : streakPeriodShift(period, currentPeriodStart, currentPeriodActive ? 2 : 1);
  return { length: run.length, currentPeriodActive, currentPeriodStart, breaksAt, completed };
}

/** What `points` are worth at `pointValue` per point, to the cent (half up). */
export function pointsValue(points: number, pointValue: string): string {
  if (points <= 0) return '0.00';
  return fromUnits(mulDivRound(BigInt(points) * toUnits(pointValue, 6), 1n, 10_000n), 2);
}

/** Progress toward a requirement as a whole percentage, capped at 100. */
export function percent(have: number, need: number): number {
  if (need <= 0) return 100;
  return Math.min(100, Math.floor((Math.max(0, have) * 100) / need));
}
