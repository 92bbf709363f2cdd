import type { Resolvers } from '../graphql/generated';
import { referralSettings } from './referrals.rules';
import { referralsOf } from './referrals.service';

export const referralsResolvers: Resolvers = {
  Member: {
    referrals: (member, _a, ctx) => referralsOf(ctx, member),
    referredBy: (member) => member.referred_by,
  },
  Referral: {
    createdAt: (r) => r.created_at,
    decidedAt: (r) => r.decided_at,
    reversedAt: (r) => r.reversed_at,
    orderId: (r) => r.order_id,
    referrerPoints: (r) => r.referrer_points,
    refereePoints: (r) => r.referee_points,
  },
  Program: {
    referral: (program) => referralSettings(program),
  },
};
