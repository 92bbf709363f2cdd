import type { Resolvers } from '../graphql/generated';
import { guarded } from '../auth/guards';
import { HELD } from './webhooks.repo';
import * as webhooks from './webhooks.service';

export const webhooksResolvers: Resolvers = {
  Query: {
    webhooks: guarded(['ADMIN'], (_p, _a, ctx) => webhooks.listWebhooks(ctx)),
    webhookDeliveries: guarded(['ADMIN'], (_p, args, ctx) => webhooks.listDeliveries(ctx, args)),
  },
  Mutation: {
    createWebhook: guarded(['ADMIN'], (_p, { input }, ctx) => webhooks.createWebhook(ctx, input)),
    setWebhookActive: guarded(['ADMIN'], (_p, { id, active }, ctx) => webhooks.setWebhookActive(ctx, id, active)),
    replayWebhookDelivery: guarded(['ADMIN'], (_p, { id }, ctx) => webhooks.replayDelivery(ctx, id)),
  },
  Webhook: {
    disabledReason: (w) => w.disabled_reason,
    createdAt: (w) => w.created_at,
  },
  WebhookDeliveryConnection: {
    totalCount: (page) => page.countTotal(),
  },
  WebhookDelivery: {
    webhookId: (d) => d.webhook_id,
    eventId: (d) => d.event_id,
    eventType: (d) => d.event_type,
    memberId: (d) => d.member_id,
    lastStatusCode: (d) => d.last_status_code,
    lastError: (d) => d.last_error,
    // Held while the webhook is off: no next attempt to show.
    nextAttemptAt: (d) => (d.status === 'PENDING' && d.next_attempt_at.getTime() < HELD.getTime() ? d.next_attempt_at : null),
    deliveredAt: (d) => d.delivered_at,
    createdAt: (d) => d.created_at,
    log: (d, _a, ctx) => webhooks.deliveryAttempts(ctx.db, d.id),
  },
  WebhookAttempt: {
    statusCode: (a) => a.status_code,
    durationMs: (a) => a.duration_ms,
  },
};
