import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import * as tiers from './tiers.service';
import { runTierMaintenance } from './tiers.jobs';
import { memberStreak, switchingCost } from './tiers.views';

export const tiersResolvers: Resolvers = {
  Mutation: {
    assignTier: guarded(['ADMIN'], (_p, { input }, ctx) => tiers.assignTier(ctx, input)),
    endTierAssignment: guarded(['ADMIN'], (_p, { memberId }, ctx) => tiers.endTierAssignment(ctx, memberId)),
    runTierEvaluation: guarded(['ADMIN'], async (_p, _a, ctx) => runTierMaintenance(ctx.db, await ctx.now(), ctx.log())),
  },
  Member: {
    tierHistory: (member, { first }, ctx) => tiers.tierHistory(ctx.db, member.id, first ?? 20),
    streak: (member, _a, ctx) => memberStreak(ctx, member),
    switchingCost: (member, _a, ctx) => switchingCost(ctx, member),
  },
  TierHistoryEntry: {
    fromTier: (h) => h.from_code,
    toTier: (h) => h.to_code,
    validUntil: (h) => h.valid_until,
  },
  TierStatus: {
    window: (s) => s.windowKind,
  },
};
