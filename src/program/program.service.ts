import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { BadInputError } from '../errors';
import * as repo from './program.repo';
import type { MilestoneView, ProgramView, TierView } from './program.types';
import { checkDecimal } from '../money';
import { checkEarnRate } from './program.rules';

// Settings change rarely and are read by every earn: cache them briefly per process. Writes
// through this process invalidate at once; other instances see a change within the TTL.
const CACHE_TTL_MS = 1000;
const cache = new WeakMap<Db, { at: number; value: Promise<ProgramView> }>();

/** The programme settings and tier ladder, through a short-lived cache. */
export function getProgram(db: Db): Promise<ProgramView> {
  const hit = cache.get(db);
  const at = Date.now();
  if (hit && at - hit.at < CACHE_TTL_MS) return hit.value;
  const value = Promise.all([repo.loadProgram(db), repo.loadTiers(db), repo.loadMilestones(db), repo.loadActiveRules(db)])
    .then(([program, tiers, milestones, rules]) => ({ ...program, tiers, milestones, rules }));
  value.catch(() => cache.delete(db));
  cache.set(db, { at, value });
  return value;
}

export function invalidateProgram(db: Db): void {
  cache.delete(db);
}

export interface ProgramPatch {
  name?: string | null;
  pointsName?: string | null;
  currency?: string | null;
  earnRate?: string | null;
  pendingDays?: number | null;
  expiry?: { mode: 'NONE' | 'FIXED' | 'INACTIVITY'; months?: number | null; roundToQuarterEnd?: boolean | null } | null;
  allowNegativeBalance?: boolean | null;
  pointValue?: string | null;
  timezone?: string | null;
  complaintSlaHours?: number | null;
  /** Omitted fields stay; an explicit null maxPerReferrer removes the cap. */
  referral?: { referrerPoints?: number | null; refereePoints?: number | null; maxPerReferrer?: number | null } | null;
}

/** The most a referral may credit either side: as much as one transaction may move. */
const MAX_REFERRAL_POINTS = 10_000_000;
const MAX_REFERRALS_PER_REFERRER = 1_000_000;

/** Applies the given settings; omitted fields stay. Expiry changes apply to lots earned afterwards. */
export async function updateProgram(ctx: Ctx, input: ProgramPatch): Promise<ProgramView> {
  const patch: Parameters<typeof repo.updateProgram>[1] = {};
  if (input.name != null) patch.name = nonEmpty(input.name, 'name', 100);
  if (input.pointsName != null) patch.points_name = nonEmpty(input.pointsName, 'pointsName', 30);
  if (input.currency != null) {
    if (!/^[A-Z]{3}$/.test(input.currency)) throw new BadInputError('currency must be an ISO-4217 code such as USD', 'currency');
    patch.currency = input.currency;
  }
  if (input.earnRate != null) patch.earn_rate = checkEarnRate(input.earnRate);
  if (input.pointValue != null) patch.point_value = checkDecimal(input.pointValue, 'pointValue', { min: 0, scale: 6 });
  if (input.pendingDays != null) {
    if (!Number.isInteger(input.pendingDays) || input.pendingDays < 0 || input.pendingDays > 365) {
      throw new BadInputError('pendingDays must be 0-365', 'pendingDays');
    }
    patch.pending_days = input.pendingDays;
  }
  if (input.expiry != null) {
    const { mode, months, roundToQuarterEnd } = input.expiry;
    if (mode === 'NONE') {
      patch.expiry_mode = 'NONE';
      patch.expiry_months = null;
      patch.round_to_quarter_end = false;
    } else {
      if (months == null || !Number.isInteger(months) || months < 1 || months > 240) {
        throw new BadInputError(`expiry.months (1-240) is required for ${mode}`, 'expiry.months');
      }
      if (mode === 'INACTIVITY' && roundToQuarterEnd) throw new BadInputError('roundToQuarterEnd applies to FIXED only', 'expiry.roundToQuarterEnd');
      patch.expiry_mode = mode;
      patch.expiry_months = months;
      patch.round_to_quarter_end = roundToQuarterEnd ?? false;
    }
  }
  if (input.allowNegativeBalance != null) patch.allow_negative_balance = input.allowNegativeBalance;
  if (input.timezone != null) patch.timezone = canonicalZone(input.timezone);
  if (input.complaintSlaHours != null) patch.complaint_sla_hours = wholeIn(input.complaintSlaHours, 'complaintSlaHours', 1, 8760);
  if (input.referral != null) {
    const { referrerPoints, refereePoints, maxPerReferrer } = input.referral;
    if (referrerPoints != null) patch.referral_referrer_points = wholeIn(referrerPoints, 'referral.referrerPoints', 0, MAX_REFERRAL_POINTS);
    if (refereePoints != null) patch.referral_referee_points = wholeIn(refereePoints, 'referral.refereePoints', 0, MAX_REFERRAL_POINTS);
    if (maxPerReferrer !== undefined) {
      patch.referral_max_per_referrer = maxPerReferrer === null ? null : wholeIn(maxPerReferrer, 'referral.maxPerReferrer', 0, MAX_REFERRALS_PER_REFERRER);
    }
  }
  patch.updated_at = await ctx.now();
  await repo.updateProgram(ctx.db, patch);
  invalidateProgram(ctx.db);
  return getProgram(ctx.db);
}

/** An IANA time zone name as the runtime spells it ("europe/paris" → "Europe/Paris"); BAD_USER_INPUT when it knows none such. */
function canonicalZone(name: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new BadInputError('timezone must be an IANA time zone name such as Europe/Paris', 'timezone');
  }
}

export interface TierInput {
  code: string;
  name: string;
  rank: number;
  qualifyingPointsRequired: number;
  earnMultiplier: number;
  qualifyingSpendRequired?: string | null;
  qualifyingPurchasesRequired?: number | null;
  thresholdMatch?: 'ANY' | 'ALL' | null;
  perks?: readonly string[] | null;
  rewardCodes?: readonly string[] | null;
  invitationOnly?: boolean | null;
  lifetimeQualifyingPointsRequired?: number | null;
}

/**
 * Replaces the ladder. Codes and ranks unique; the lowest rank needs 0 and is open to all;
 * each higher earnable rank needs more qualifying points. Invitation-only tiers are never
 * earned, so their thresholds are not compared.
 */
export async function setTiers(ctx: Ctx, tiers: TierInput[]): Promise<TierView[]> {
  if (tiers.length === 0) throw new BadInputError('At least one tier is required', 'tiers');
  const sorted = [...tiers].sort((a, b) => a.rank - b.rank);
  const codes = new Set<string>();
  sorted.forEach((tier, i) => {
    if (!/^[A-Z][A-Z0-9_]{0,29}$/.test(tier.code)) throw new BadInputError(`Tier code "${tier.code}" must be A-Z, 0-9, _`, 'code');
    if (codes.has(tier.code)) throw new BadInputError(`Tier code ${tier.code} is used twice`, 'code');
    codes.add(tier.code);
    nonEmpty(tier.name, 'name', 100);
    if (!Number.isInteger(tier.qualifyingPointsRequired) || tier.qualifyingPointsRequired < 0) {
      throw new BadInputError('qualifyingPointsRequired must be a whole number >= 0', 'qualifyingPointsRequired');
    }
    if (!(tier.earnMultiplier > 0 && tier.earnMultiplier <= 100)) throw new BadInputError('earnMultiplier must be in (0, 100]', 'earnMultiplier');
    const previous = sorted[i - 1];
    if (previous && previous.rank === tier.rank) throw new BadInputError(`Rank ${tier.rank} is used twice`, 'rank');
    const earnableBelow = sorted.slice(0, i).filter((t) => !t.invitationOnly).at(-1);
    if (!tier.invitationOnly && earnableBelow && tier.qualifyingPointsRequired <= earnableBelow.qualifyingPointsRequired) {
      throw new BadInputError('Each higher rank must require more qualifying points', 'qualifyingPointsRequired');
    }
    if (tier.qualifyingSpendRequired != null) checkDecimal(tier.qualifyingSpendRequired, 'qualifyingSpendRequired', { min: 0, scale: 2 });
    if (tier.qualifyingPurchasesRequired != null && (!Number.isInteger(tier.qualifyingPurchasesRequired) || tier.qualifyingPurchasesRequired < 0)) {
      throw new BadInputError('qualifyingPurchasesRequired must be a whole number >= 0', 'qualifyingPurchasesRequired');
    }
    const lifetime = tier.lifetimeQualifyingPointsRequired;
    if (lifetime != null && (!Number.isInteger(lifetime) || lifetime < 1)) {
      throw new BadInputError('lifetimeQualifyingPointsRequired must be a whole number >= 1', 'lifetimeQualifyingPointsRequired');
    }
    if (lifetime != null && tier.invitationOnly) throw new BadInputError('An invitation-only tier cannot be reached by lifetime points', 'lifetimeQualifyingPointsRequired');
    for (const text of [...(tier.perks ?? []), ...(tier.rewardCodes ?? [])]) nonEmpty(text, 'perks', 200);
  });
  if (sorted[0]?.qualifyingPointsRequired !== 0) throw new BadInputError('The lowest tier must require 0 qualifying points', 'qualifyingPointsRequired');
  if (sorted[0]?.invitationOnly) throw new BadInputError('The lowest tier cannot be invitation-only', 'invitationOnly');
  await ctx.db.transaction().execute((tx) =>
    repo.replaceTiers(
      tx,
      sorted.map((t) => ({
        code: t.code,
        name: t.name.trim(),
        rank: t.rank,
        qualifying_points_required: t.qualifyingPointsRequired,
        earn_multiplier: t.earnMultiplier.toFixed(3),
        qualifying_spend_required: t.qualifyingSpendRequired == null ? null : checkDecimal(t.qualifyingSpendRequired, 'qualifyingSpendRequired', { min: 0, scale: 2 }),
        qualifying_purchases_required: t.qualifyingPurchasesRequired ?? null,
        threshold_match: t.thresholdMatch ?? 'ANY',
        perks: JSON.stringify((t.perks ?? []).map((p) => p.trim())),
        reward_codes: JSON.stringify((t.rewardCodes ?? []).map((p) => p.trim())),
        invitation_only: t.invitationOnly ?? false,
        lifetime_qualifying_points_required: t.lifetimeQualifyingPointsRequired ?? null,
      })),
    ),
  );
  invalidateProgram(ctx.db);
  return (await getProgram(ctx.db)).tiers;
}

export interface TierSettingsPatch {
  qualificationWindow?: 'ROLLING_12_MONTHS' | 'CALENDAR_YEAR' | 'ANNIVERSARY_YEAR' | null;
  downgradeMode?: 'ONE_TIER' | 'TO_QUALIFIED' | null;
  graceMonths?: number | null;
  freezeExpiryAtRank?: number | null;
  clearFreezeExpiry?: boolean | null;
  streakPeriod?: 'MONTH' | 'QUARTER' | null;
  streakLength?: number | null;
  streakBonusPoints?: number | null;
}

/**
 * Changes the tier settings; omitted fields stay. A new window or downgrade mode applies from
 * the next evaluation on; states already written stay as they are.
 */
export async function updateTierSettings(ctx: Ctx, input: TierSettingsPatch): Promise<ProgramView> {
  const patch: Parameters<typeof repo.updateProgram>[1] = {};
  if (input.qualificationWindow != null) patch.qualification_window = input.qualificationWindow;
  if (input.downgradeMode != null) patch.downgrade_mode = input.downgradeMode;
  if (input.graceMonths != null) patch.grace_months = wholeIn(input.graceMonths, 'graceMonths', 0, 24);
  if (input.freezeExpiryAtRank != null) patch.freeze_expiry_min_rank = wholeIn(input.freezeExpiryAtRank, 'freezeExpiryAtRank', -1_000_000, 1_000_000);
  if (input.clearFreezeExpiry) patch.freeze_expiry_min_rank = null;
  if (input.streakPeriod != null) patch.streak_period = input.streakPeriod;
  if (input.streakLength != null) patch.streak_length = input.streakLength === 0 ? null : wholeIn(input.streakLength, 'streakLength', 2, 120);
  if (input.streakBonusPoints != null) patch.streak_bonus_points = wholeIn(input.streakBonusPoints, 'streakBonusPoints', 0, 10_000_000);
  patch.updated_at = await ctx.now();
  await repo.updateProgram(ctx.db, patch);
  invalidateProgram(ctx.db);
  return getProgram(ctx.db);
}

export interface MilestoneInput { lifetimeQualifyingPoints: number; name: string; bonusPoints: number }

/** Replaces the milestone bonuses. Thresholds unique; bonuses already credited stay credited. */
export async function setMilestones(ctx: Ctx, milestones: readonly MilestoneInput[]): Promise<MilestoneView[]> {
  if (milestones.length > 100) throw new BadInputError('At most 100 milestones', 'milestones');
  const seen = new Set<number>();
  const rows = milestones.map((m) => {
    const at = wholeIn(m.lifetimeQualifyingPoints, 'lifetimeQualifyingPoints', 1, 2_000_000_000);
    if (seen.has(at)) throw new BadInputError(`Milestone ${at} is used twice`, 'lifetimeQualifyingPoints');
    seen.add(at);
    return { lifetime_qualifying_points: at, name: nonEmpty(m.name, 'name', 100), bonus_points: wholeIn(m.bonusPoints, 'bonusPoints', 1, 10_000_000) };
  });
  await ctx.db.transaction().execute((tx) => repo.replaceMilestones(tx, rows));
  invalidateProgram(ctx.db);
  return (await getProgram(ctx.db)).milestones;
}

function wholeIn(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new BadInputError(`${field} must be a whole number ${min}-${max}`, field);
  return value;
}

function nonEmpty(value: string, field: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > max) throw new BadInputError(`${field} must be 1-${max} characters`, field);
  return trimmed;
}
