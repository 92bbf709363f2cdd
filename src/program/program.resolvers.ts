import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import * as program from './program.service';

export const programResolvers: Resolvers = {
  Query: {
    program: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, _a, ctx) => program.getProgram(ctx.db)),
  },
  Mutation: {
    updateProgram: guarded(['ADMIN'], (_p, { input }, ctx) => program.updateProgram(ctx, input)),
    setTiers: guarded(['ADMIN'], (_p, { tiers }, ctx) => program.setTiers(ctx, tiers)),
  },
  Program: {
    pointsName: (p) => p.points_name,
    earnRate: (p) => p.earn_rate,
    pendingDays: (p) => p.pending_days,
    expiry: (p) => ({ mode: p.expiry_mode, months: p.expiry_months, roundToQuarterEnd: p.round_to_quarter_end }),
    allowNegativeBalance: (p) => p.allow_negative_balance,
    pointValue: (p) => p.point_value,
  },
  Tier: {
    qualifyingPointsRequired: (t) => t.qualifying_points_required,
    earnMultiplier: (t) => Number(t.earn_multiplier),
  },
  TierStatus: {},
};
