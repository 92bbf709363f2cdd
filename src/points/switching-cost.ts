/** Member-facing read models built from the tier state: the streak and the switching cost. */
import type { Ctx } from '../context';
import { balanceOf } from './balance.service';
import type { MemberRow } from '../db/rows';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { percent, pointsValue, type StreakState } from '../tiers/tiers.rules';
import { memberTierStatus, streakOf } from '../tiers/tiers.service';
import type { StreakView, SwitchingCostView } from '../tiers/tiers.types';

function streakView(program: ProgramView, streak: StreakState): StreakView {
  const unit = program.streak_period === 'QUARTER' ? 'quarter' : 'month';
  const every = program.streak_length;
  return {
    period: program.streak_period,
    length: streak.length,
    currentPeriodActive: streak.currentPeriodActive,
    breaksAt: streak.breaksAt,
    breaksIf: streak.breaksAt
      ? `No qualifying activity before ${streak.breaksAt.toISOString()} (${streak.currentPeriodActive ? `all of next ${unit}` : `the rest of this ${unit}`})`
      : null,
    nextBonusAtLength: every && program.streak_bonus_points > 0 ? (Math.floor(streak.length / every) + 1) * every : null,
    bonusPoints: program.streak_bonus_points,
  };
}

/** The member's activity streak at the service instant. */
export async function memberStreak(ctx: Ctx, member: MemberRow): Promise<StreakView> {
  const program = await getProgram(ctx.db);
  return streakView(program, await streakOf(ctx.db, member, program, await ctx.now()));
}

/**
 * Everything the member would give up by leaving now: spendable points and their value at the
 * programme point value, the tier and its benefits, progress toward the next tier, lifetime
 * status and milestones, and the streak.
 */
export async function switchingCost(ctx: Ctx, member: MemberRow): Promise<SwitchingCostView> {
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  const [status, balance, streak] = await Promise.all([
    memberTierStatus(ctx, member), balanceOf(ctx, member), streakOf(ctx.db, member, program, now),
  ]);
  const lifetimePoints = status.lifetimeQualifyingPoints;
  const heldForLife = status.lifetimeTier?.rank ?? Number.NEGATIVE_INFINITY;
  const nextLifetime = program.tiers.find((t) => t.lifetime_qualifying_points_required != null && t.rank > heldForLife) ?? null;
  const lifetimeNeed = nextLifetime?.lifetime_qualifying_points_required ?? null;
  const milestone = program.milestones.find((m) => m.lifetime_qualifying_points > lifetimePoints) ?? null;
  const tier = status.current;
  return {
    redeemablePoints: Math.max(0, balance.available),
    pendingPoints: balance.pending,
    redeemableValue: pointsValue(balance.available, program.point_value),
    currency: program.currency,
    tier,
    tierValidUntil: status.validUntil,
    lifetimeStatus: status.lifetime,
    earnMultiplier: Number(tier.earn_multiplier),
    perks: tier.perks,
    rewardCodes: tier.reward_codes,
    qualifyingPoints: status.qualifyingPoints,
    nextTier: status.nextTier,
    pointsToNextTier: status.pointsToNextTier,
    nextTierProgressPercent: status.nextTier ? percent(status.qualifyingPoints, status.nextTier.qualifying_points_required) : null,
    lifetimeQualifyingPoints: lifetimePoints,
    nextLifetimeTier: nextLifetime,
    pointsToLifetimeTier: lifetimeNeed === null ? null : Math.max(0, lifetimeNeed - lifetimePoints),
    lifetimeProgressPercent: lifetimeNeed === null ? null : percent(lifetimePoints, lifetimeNeed),
    streakLength: streak.length,
    nextMilestone: milestone,
    pointsToNextMilestone: milestone ? milestone.lifetime_qualifying_points - lifetimePoints : null,
  };
}
