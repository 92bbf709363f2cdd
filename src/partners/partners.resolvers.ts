import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import * as partners from './partners.service';

export const partnersResolvers: Resolvers = {
  Query: {
    partners: guarded(['ADMIN'], (_p, _a, ctx) => partners.listPartners(ctx)),
    partnerSettlement: guarded(['ADMIN', 'PARTNER'], (_p, { partnerId, from, to }, ctx) => partners.partnerSettlement(ctx, partnerId, from, to)),
  },
  Mutation: {
    createPartner: guarded(['ADMIN'], (_p, { input }, ctx) => partners.createPartner(ctx, input)),
    rotatePartnerSecret: guarded(['ADMIN'], (_p, { partnerId }, ctx) => partners.rotatePartnerSecret(ctx, partnerId)),
    setPartnerActive: guarded(['ADMIN'], (_p, { partnerId, active }, ctx) => partners.setPartnerActive(ctx, partnerId, active)),
    updatePartner: guarded(['ADMIN'], (_p, { partnerId, input }, ctx) => partners.updatePartner(ctx, partnerId, input)),
  },
  Partner: {
    partnerId: (p) => p.partner_id,
    earnRate: (p) => p.earn_rate,
    personalData: (p) => p.personal_data,
    createdAt: (p) => p.created_at,
    previousSecretExpiresAt: async (p, _a, ctx) => {
      const until = p.previous_secret_expires_at;
      return until && until.getTime() > (await ctx.now()).getTime() ? until : null;
    },
  },
};
