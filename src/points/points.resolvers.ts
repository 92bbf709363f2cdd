import type { Resolvers } from '../graphql/generated';
import { CARRIES_RATE_COUNT, guarded } from '../auth/guards';
import { balanceOf, expiringSoon, statement } from './balance.service';
import * as points from './points.service';
import { memberStreak, switchingCost } from './switching-cost';
import * as purchases from './purchases.service';
import * as events from './events.service';
import * as repo from '../ledger/ledger.repo';
import { transactionStatus } from '../ledger/ledger.rules';
import type { RuleAwardRecord } from '../ledger/ledger.types';

export const pointsResolvers: Resolvers = {
  Mutation: {
    recordPurchase: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => purchases.recordPurchase(ctx, input), CARRIES_RATE_COUNT),
    refundPurchase: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => purchases.refundPurchase(ctx, input), CARRIES_RATE_COUNT),
    earnPoints: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => points.earnPoints(ctx, input), CARRIES_RATE_COUNT),
    redeemPoints: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => points.redeemPoints(ctx, input), CARRIES_RATE_COUNT),
    adjustPoints: guarded(['ADMIN'], (_p, { input }, ctx) => points.adjustPoints(ctx, input), CARRIES_RATE_COUNT),
    transferPoints: guarded(['ADMIN', 'MEMBER'], (_p, { input }, ctx) => points.transferPoints(ctx, input), CARRIES_RATE_COUNT),
    reverseRedemption: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => points.reverseRedemption(ctx, input)),
    recordEvent: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => events.recordEvent(ctx, input), CARRIES_RATE_COUNT),
  },
  Query: {
    quoteEarn: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => purchases.quoteEarn(ctx, input), CARRIES_RATE_COUNT),
  },
  Member: {
    balance: (member, _a, ctx) => balanceOf(ctx, member),
    transactions: (member, args, ctx) => statement(ctx, member, args),
    streak: (member, _a, ctx) => memberStreak(ctx, member),
    switchingCost: (member, _a, ctx) => switchingCost(ctx, member),
  },
  PointsTransactionConnection: {
    totalCount: (page) => page.countTotal(),
  },
  PointsBalance: {
    expiringSoon: (balance, { days }, ctx) => expiringSoon(ctx, balance, days ?? 30),
  },
  PointsTransaction: {
    status: async (txn, _a, ctx) => transactionStatus(txn, await ctx.now()),
    qualifyingPoints: (txn) => txn.qualifying_points,
    orderId: (txn) => txn.order_id,
    partnerId: (txn) => txn.partner_id,
    availableAt: (txn) => txn.available_at,
    occurredAt: (txn) => txn.occurred_at,
    createdAt: (txn) => txn.created_at,
    memberId: (txn) => txn.member_id,
    relatedTransactionId: (txn) => txn.related_id,
    // As read, the column is parsed JSON; on an entry just planned it is the JSON text written.
    ruleAwards: (txn) => (typeof txn.rule_awards === 'string' ? JSON.parse(txn.rule_awards) : (txn.rule_awards ?? [])) as RuleAwardRecord[],
    allocations: async (txn, _a, ctx) =>
      (await repo.allocationsOf(ctx.db, txn.id))
        .filter((a) => a.kind !== 'DEBT')
        .map((a) => ({ lotId: a.lot_id, lotTransactionId: a.lot_txn_id, points: a.points, lotExpiresAt: a.expires_at })),
  },
};
