import type { Resolvers } from '../graphql/generated';
import { CARRIES_RATE_COUNT, guarded } from '../auth/guards';
import { selectsField } from '../graphql/selection';
import * as members from './members.service';

export const membersResolvers: Resolvers = {
  Query: {
    me: guarded(['MEMBER'], async (_p, _a, ctx, info) =>
      (await members.findMember(ctx, { id: ctx.actor?.memberId }, { withBalance: selectsField(info, 'balance') })) ?? null, CARRIES_RATE_COUNT),
    member: guarded(['ADMIN', 'PARTNER'], async (_p, args, ctx, info) =>
      (await members.findMember(ctx, args, { withBalance: selectsField(info, 'balance') })) ?? null, CARRIES_RATE_COUNT),
    members: guarded(['ADMIN'], (_p, args, ctx) => members.listMembers(ctx, args)),
  },
  Mutation: {
    enrollMember: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => members.enrollMember(ctx, input)),
    updateMember: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => members.updateMember(ctx, input)),
    setMemberStatus: guarded(['ADMIN'], (_p, { input }, ctx) => members.setMemberStatus(ctx, input)),
  },
  MemberConnection: {
    totalCount: (page) => page.countTotal(),
  },
  Member: {
    externalId: (m) => m.external_id,
    birthDate: (m) => m.birth_date,
    enrolledAt: (m) => m.enrolled_at,
    referralCode: (m) => m.referral_code,
  },
};
