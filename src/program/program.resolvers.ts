import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import * as program from './program.service';

export const programResolvers: Resolvers = {
  Query: {
    program: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, _a, ctx) => program.getProgram(ctx.db)),
    tierMilestones: guarded(['ADMIN', 'PARTNER', 'MEMBER'], async (_p, _a, ctx) => (await program.getProgram(ctx.db)).milestones),
  },
  Mutation: {
    updateProgram: guarded(['ADMIN'], (_p, { input }, ctx) => program.updateProgram(ctx, input)),
    setTiers: guarded(['ADMIN'], (_p, { tiers }, ctx) => program.setTiers(ctx, tiers)),
    updateTierSettings: guarded(['ADMIN'], (_p, { input }, ctx) => program.updateTierSettings(ctx, input)),
    setMilestones: guarded(['ADMIN'], (_p, { milestones }, ctx) => program.setMilestones(ctx, milestones)),
  },
  Program: {
    pointsName: (p) => p.points_name,
    earnRate: (p) => p.earn_rate,
    pendingDays: (p) => p.pending_days,
    expiry: (p) => ({ mode: p.expiry_mode, months: p.expiry_months, roundToQuarterEnd: p.round_to_quarter_end }),
    allowNegativeBalance: (p) => p.allow_negative_balance,
    pointValue: (p) => p.point_value,
    complaintSlaHours: (p) => p.complaint_sla_hours,
    qualificationWindow: (p) => p.qualification_window,
    downgradeMode: (p) => p.downgrade_mode,
    graceMonths: (p) => p.grace_months,
    freezeExpiryAtRank: (p) => p.freeze_expiry_min_rank,
    streak: (p) => ({ period: p.streak_period, length: p.streak_length, bonusPoints: p.streak_bonus_points }),
    milestones: (p) => p.milestones,
  },
  Milestone: {
    lifetimeQualifyingPoints: (m) => m.lifetime_qualifying_points,
    bonusPoints: (m) => m.bonus_points,
  },
  Tier: {
    qualifyingPointsRequired: (t) => t.qualifying_points_required,
    earnMultiplier: (t) => Number(t.earn_multiplier),
    qualifyingSpendRequired: (t) => t.qualifying_spend_required,
    qualifyingPurchasesRequired: (t) => t.qualifying_purchases_required,
    thresholdMatch: (t) => t.threshold_match,
    rewardCodes: (t) => t.reward_codes,
    invitationOnly: (t) => t.invitation_only,
    lifetimeQualifyingPointsRequired: (t) => t.lifetime_qualifying_points_required,
  },
  TierStatus: {},
};
