import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import { plainDecimal } from '../money';
import * as rules from './rules.service';
import { simulateRule } from './rules.simulation';

export const rulesResolvers: Resolvers = {
  Query: {
    earningRules: guarded(['ADMIN'], (_p, { activeOnly }, ctx) => rules.listRules(ctx, activeOnly ?? false)),
    simulateEarningRule: guarded(['ADMIN'], (_p, { input, from, to }, ctx) => simulateRule(ctx, input, from, to)),
  },
  Mutation: {
    createEarningRule: guarded(['ADMIN'], (_p, { input }, ctx) => rules.createRule(ctx, input)),
    updateEarningRule: guarded(['ADMIN'], (_p, { id, input }, ctx) => rules.updateRule(ctx, id, input)),
    setEarningRuleActive: guarded(['ADMIN'], (_p, { id, active }, ctx) => rules.setRuleActive(ctx, id, active)),
  },
  EarningRule: {
    effect: (r) => ({ kind: r.effect_kind, points: r.effect_points, rate: r.effect_rate === null ? null : plainDecimal(r.effect_rate), itemCondition: r.item_condition, qualifying: r.qualifying }),
    limit: (r) => (r.limit_count !== null && r.limit_period !== null ? { count: r.limit_count, period: r.limit_period } : null),
    budgetPoints: (r) => r.budget_points,
    budgetSpent: (r) => r.budget_spent,
    startsAt: (r) => r.starts_at,
    endsAt: (r) => r.ends_at,
  },
};
