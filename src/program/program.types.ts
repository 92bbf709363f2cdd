import type { Selectable } from 'kysely';
import type { EarningRuleTable, ProgramTable, TierMilestoneTable, TierTable } from '../db/schema';

export type ProgramRow = Selectable<ProgramTable>;
export type TierView = Selectable<TierTable>;
export type MilestoneView = Selectable<TierMilestoneTable>;
export type EarningRuleRow = Selectable<EarningRuleTable>;

/** Programme settings with the tier ladder, lowest rank first. */
export interface ProgramView extends ProgramRow {
  tiers: TierView[];
  /** Milestone bonuses, lowest threshold first. */
  milestones: MilestoneView[];
  /** The active earning rules, current versions (src/rules compiles and evaluates them). */
  rules: EarningRuleRow[];
}

/** What a member still needs, within the review window, to keep a tier at its review. */
export interface RetentionView {
  tier: TierView;
  by: Date;
  met: boolean;
  pointsNeeded: number;
  spendNeeded: string;
  purchasesNeeded: number;
}

export interface TierStatusView {
  current: TierView;
  since: Date;
  validUntil: Date | null;
  qualifyingPoints: number;
  nextTier: TierView | null;
  pointsToNextTier: number | null;
  lifetime: boolean;
  memberId: string;
  windowKind: ProgramRow['qualification_window'];
  windowStart: Date;
  qualifyingSpend: string;
  qualifyingPurchases: number;
  lifetimeQualifyingPoints: number;
  lifetimeTier: TierView | null;
  earnedTier: TierView;
  assignedTier: TierView | null;
  assignedUntil: Date | null;
  graceUntil: Date | null;
  retention: RetentionView | null;
  downgradeAt: Date | null;
  downgradeTo: TierView | null;
  expiryFrozen: boolean;
}
