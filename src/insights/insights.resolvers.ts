import type { Resolvers } from '../graphql/generated';
import { CARRIES_RATE_COUNT, guarded } from '../auth/guards';
import { getProgram } from '../program/program.service';
import * as feedback from './feedback.service';
import { memberLoyalty, programInsights } from './insights.service';
import type { ComplaintRow } from './feedback.service';

/** Open longer than the SLA: until it was resolved, or until now. */
function pastSla(complaint: ComplaintRow, slaHours: number, now: Date): boolean {
  const end = complaint.resolved_at ?? now;
  return end.getTime() - complaint.created_at.getTime() > slaHours * 3_600_000;
}

export const insightsResolvers: Resolvers = {
  Query: {
    programInsights: guarded(['ADMIN'], (_p, args, ctx) => programInsights(ctx, args)),
    complaints: guarded(['ADMIN'], (_p, { status, first }, ctx) => feedback.complaintsOf(ctx, { status }, first ?? 20)),
  },
  Mutation: {
    submitSurveyResponse: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => feedback.submitSurveyResponse(ctx, input), CARRIES_RATE_COUNT),
    fileComplaint: guarded(['ADMIN', 'PARTNER', 'MEMBER'], (_p, { input }, ctx) => feedback.fileComplaint(ctx, input), CARRIES_RATE_COUNT),
    resolveComplaint: guarded(['ADMIN'], (_p, { input }, ctx) => feedback.resolveComplaint(ctx, input)),
  },
  Member: {
    loyalty: (member, _a, ctx) => memberLoyalty(ctx, member),
    surveyResponses: async (member, { first }, ctx) => (await feedback.answersOf(ctx, member.id, first ?? 20)).map(feedback.answerView),
    complaints: (member, { status, first }, ctx) => feedback.complaintsOf(ctx, { memberId: member.id, status }, first ?? 20),
  },
  SurveyResponse: {
    memberId: (r) => r.member_id,
    createdAt: (r) => r.created_at,
  },
  Complaint: {
    memberId: (c) => c.member_id,
    goodwillPoints: (c) => c.goodwill_points,
    goodwillTransactionId: (c) => c.goodwill_txn_id,
    createdAt: (c) => c.created_at,
    resolvedAt: (c) => c.resolved_at,
    pastSla: async (c, _a, ctx) => pastSla(c, (await getProgram(ctx.db)).complaint_sla_hours, await ctx.now()),
  },
  ProgramInsights: {
    nps: (i) => i.nps(),
    retention: (i) => i.retention(),
    repeatPurchaseRate: (i) => i.repeatPurchaseRate(),
    pareto: (i) => i.pareto(),
    membersByTier: (i) => i.membersByTier(),
    membersByStage: (i) => i.membersByStage(),
    churnRisk: (i) => i.churnRisk(),
    atRisk: (i, { first }) => i.atRisk(first ?? 20),
    complaints: (i) => i.complaints(),
    points: (i) => i.points(),
    pointsByMonth: (i) => i.pointsByMonth(),
    asOf: (i) => i.summaryAsOf,
  },
};
