import type { Resolvers } from './graphql/generated';
import { guarded, limitViews } from './auth/guards';
import { setTestClock } from './clock/clock';
import { DateTime, Decimal, JSONScalar } from './graphql/scalars';
import { mergeResolvers } from './graphql/schema';
import { membersResolvers } from './members/members.resolvers';
import { pointsResolvers } from './points/points.resolvers';
import { programResolvers } from './program/program.resolvers';
import { tiersResolvers } from './tiers/tiers.resolvers';
import { jobsResolvers } from './jobs/jobs.resolvers';
import { rulesResolvers } from './rules/rules.resolvers';
import { rewardsResolvers } from './rewards/rewards.resolvers';
import { webhooksResolvers } from './webhooks/webhooks.resolvers';
import { partnersResolvers } from './partners/partners.resolvers';
import { referralsResolvers } from './referrals/referrals.resolvers';
import { insightsResolvers } from './insights/insights.resolvers';

const clockResolvers: Resolvers = {
  Query: {
    now: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, _a, ctx) => ctx.now()),
  },
  Mutation: {
    setTestClock: guarded(['ADMIN'], (_p, { now }, ctx) => setTestClock(ctx.db, ctx.config.testClockEnabled, now)),
  },
};

/** What a limited view of another member (a MEMBER's referee) answers: the rest is FORBIDDEN (auth/guards.ts limitViews). */
const OPEN_MEMBER_FIELDS = ['enrolledAt', 'name', 'email', 'phone', 'birthDate'];

/** Every domain's resolvers in one map. */
export function buildResolvers(): Resolvers {
  const resolvers = mergeResolvers(
    { DateTime, Decimal, JSON: JSONScalar }, clockResolvers, membersResolvers, programResolvers, pointsResolvers, tiersResolvers, jobsResolvers, rulesResolvers,
    partnersResolvers, referralsResolvers, rewardsResolvers, webhooksResolvers, insightsResolvers,
  );
  return { ...resolvers, Member: limitViews(resolvers.Member ?? {}, OPEN_MEMBER_FIELDS) };
}
