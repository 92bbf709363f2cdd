import type { StreakPeriod } from '../db/schema';
import type { MilestoneView, TierView } from '../program/program.types';

export interface StreakView {
  period: StreakPeriod;
  length: number;
  currentPeriodActive: boolean;
  breaksAt: Date | null;
  breaksIf: string | null;
  nextBonusAtLength: number | null;
  bonusPoints: number;
}

/** What a member would give up by leaving now. */
export interface SwitchingCostView {
  redeemablePoints: number;
  pendingPoints: number;
  redeemableValue: string;
  currency: string;
  tier: TierView;
  tierValidUntil: Date | null;
  lifetimeStatus: boolean;
  earnMultiplier: number;
  perks: string[];
  rewardCodes: string[];
  qualifyingPoints: number;
  nextTier: TierView | null;
  pointsToNextTier: number | null;
  nextTierProgressPercent: number | null;
  lifetimeQualifyingPoints: number;
  nextLifetimeTier: TierView | null;
  pointsToLifetimeTier: number | null;
  lifetimeProgressPercent: number | null;
  streakLength: number;
  nextMilestone: MilestoneView | null;
  pointsToNextMilestone: number | null;
}
