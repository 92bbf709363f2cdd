import type { Resolvers } from '../graphql/generated';
import { CARRIES_RATE_COUNT, guarded } from '../auth/guards';
import type { GraphQLResolveInfo } from 'graphql';
import { selectedArguments, selectsField } from '../graphql/selection';
import type { StatementArgs } from '../points/balance.service';
import * as members from './members.service';
import { seesPersonalData } from '../auth/guards';

/** What a member's read fetches in its own statement: the balance, or else the statement page, where selected. */
function readAhead(info: GraphQLResolveInfo): { withBalance: boolean; page?: StatementArgs } {
  if (selectsField(info, 'balance')) return { withBalance: true };
  const page = selectedArguments(info, 'transactions') as StatementArgs | undefined;
  return page ? { withBalance: false, page } : { withBalance: false };
}

export const membersResolvers: Resolvers = {
  Query: {
    me: guarded(['MEMBER'], async (_p, _a, ctx, info) =>
      (await members.findMember(ctx, { id: ctx.actor?.memberId }, readAhead(info))) ?? null, CARRIES_RATE_COUNT),
    member: guarded(['ADMIN', 'PARTNER'], async (_p, args, ctx, info) =>
      (await members.findMember(ctx, args, readAhead(info))) ?? null, CARRIES_RATE_COUNT),
    members: guarded(['ADMIN'], (_p, args, ctx) => members.listMembers(ctx, args)),
    exportMemberData: guarded(['ADMIN', 'MEMBER'], (_p, { memberId }, ctx) => members.exportMemberData(ctx, memberId)),
  },
  Mutation: {
    enrollMember: guarded(['ADMIN', 'PARTNER'], (_p, { input }, ctx) => members.enrollMember(ctx, input)),
    updateMember: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => members.updateMember(ctx, input)),
    setMemberStatus: guarded(['ADMIN'], (_p, { input }, ctx) => members.setMemberStatus(ctx, input)),
    setMemberTags: guarded(['ADMIN', 'PARTNER'], (_p, { memberId, tags }, ctx) => members.setMemberTags(ctx, memberId, tags)),
    eraseMember: guarded(['ADMIN'], (_p, { memberId, reason }, ctx) => members.eraseMember(ctx, memberId, reason)),
  },
  MemberConnection: {
    totalCount: (page) => page.countTotal(),
  },
  Member: {
    externalId: (m) => m.external_id,
    name: (m, _a, ctx) => (seesPersonalData(ctx) ? m.name : null),
    email: (m, _a, ctx) => (seesPersonalData(ctx) ? m.email : null),
    phone: (m, _a, ctx) => (seesPersonalData(ctx) ? m.phone : null),
    birthDate: (m, _a, ctx) => (seesPersonalData(ctx) ? m.birth_date : null),
    enrolledAt: (m) => m.enrolled_at,
    referralCode: (m) => m.referral_code,
    tags: (m) => m.tags ?? [],
    erasedAt: (m) => m.erased_at ?? null,
  },
};
