import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import * as tiers from './tiers.service';
import { runTierMaintenance } from './tiers.jobs';

export const tiersResolvers: Resolvers = {
  Mutation: {
    assignTier: guarded(['ADMIN'], (_p, { input }, ctx) => tiers.assignTier(ctx, input)),
    endTierAssignment: guarded(['ADMIN'], (_p, { memberId }, ctx) => tiers.endTierAssignment(ctx, memberId)),
    runTierEvaluation: guarded(['ADMIN'], async (_p, _a, ctx) => runTierMaintenance(ctx.db, await ctx.now(), ctx.log())),
  },
  Member: {
    tier: (member, _a, ctx) => tiers.memberTierStatus(ctx, member),
    tierHistory: (member, { first }, ctx) => tiers.tierHistory(ctx.db, member.id, first ?? 20),
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
