import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import { runMaintenance } from './scheduler';

export const jobsResolvers: Resolvers = {
  Mutation: {
    runMaintenance: guarded(['ADMIN'], async (_p, _a, ctx) => runMaintenance(ctx.db, await ctx.now(), ctx.log(), ctx.config.webhooks)),
  },
};
