import type { Resolvers } from '../graphql/generated';
import { CARRIES_RATE_COUNT, guarded } from '../auth/guards';
import * as ledger from '../ledger/ledger.repo';
import * as repo from './rewards.repo';
import { remaining, voucherStatus } from './rewards.rules';
import * as rewards from './rewards.service';

export const rewardsResolvers: Resolvers = {
  Query: {
    rewards: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, args, ctx) => rewards.listRewards(ctx, args)),
    reward: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { id }, ctx) => rewards.getReward(ctx, id)),
    redemptions: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, args, ctx) => rewards.listRedemptions(ctx, args)),
    redemption: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { id }, ctx) => rewards.getRedemption(ctx, id)),
    voucher: guarded(['ADMIN', 'PARTNER'], (_p, { code }, ctx) => rewards.findVoucher(ctx, code)),
  },
  Mutation: {
    createReward: guarded(['ADMIN'], (_p, { input }, ctx) => rewards.createReward(ctx, input)),
    updateReward: guarded(['ADMIN'], (_p, { id, input }, ctx) => rewards.updateReward(ctx, id, input)),
    redeemReward: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => rewards.redeemReward(ctx, input), CARRIES_RATE_COUNT),
    markRedemptionUsed: guarded(['ADMIN', 'PARTNER'], (_p, { id }, ctx) => rewards.markRedemptionUsed(ctx, id)),
    cancelRedemption: guarded(['ADMIN'], (_p, { id, reason }, ctx) => rewards.cancelRedemption(ctx, id, reason)),
  },
  Reward: {
    pointsCost: (r) => r.points_cost,
    remaining: (r) => remaining(r),
    perMemberLimit: (r) => r.per_member_limit,
    minTierRank: (r) => r.min_tier_rank,
    validFrom: (r) => r.valid_from,
    validUntil: (r) => r.valid_until,
    partnerId: (r) => r.partner_id,
  },
  RewardConnection: {
    totalCount: (page) => page.countTotal(),
  },
  RedemptionConnection: {
    totalCount: (page) => page.countTotal(),
  },
  Redemption: {
    reward: async (r, _a, ctx) => (await repo.findReward(ctx.db, r.reward_id)) as repo.RewardRow,
    memberId: (r) => r.member_id,
    pointsSpent: (r) => r.points_spent,
    voucherCode: (r) => r.voucher_code,
    status: async (r, _a, ctx) => voucherStatus(r, await ctx.now()),
    transaction: async (r, _a, ctx) => {
      const entry = await ledger.findTransaction(ctx.db, r.txn_id);
      if (!entry) throw new Error(`the entry of redemption ${r.id} vanished`);
      return entry;
    },
    reversal: async (r, _a, ctx) => (r.reversal_txn_id ? ((await ledger.findTransaction(ctx.db, r.reversal_txn_id)) ?? null) : null),
    createdAt: (r) => r.created_at,
    validUntil: (r) => r.valid_until,
    usedAt: (r) => r.used_at,
    cancelledAt: (r) => r.cancelled_at,
    cancelReason: (r) => r.cancel_reason,
    expiredAt: (r) => r.expired_at,
  },
};
