import type { Resolvers } from './graphql/generated';
import { guarded } from './auth/guards';
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

const clockResolvers: Resolvers = {
  Query: {
    now: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, _a, ctx) => ctx.now()),
  },
  Mutation: {
    setTestClock: guarded(['ADMIN'], (_p, { now }, ctx) => setTestClock(ctx.db, ctx.config.testClockEnabled, now)),
  },
};

/** Every domain's resolvers in one map. */
export function buildResolvers(): Resolvers {
  return mergeResolvers(
    { DateTime, Decimal, JSON: JSONScalar }, clockResolvers, membersResolvers, programResolvers, pointsResolvers, tiersResolvers, jobsResolvers, rulesResolvers,
    partnersResolvers, rewardsResolvers, webhooksResolvers,
  );
}
