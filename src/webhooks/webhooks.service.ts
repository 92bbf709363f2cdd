/**
 * Events out, as an ADMIN manages them: webhooks (each with its own signing secret, shown once),
 * their delivery log, and replays. Events are written by the changes they report (db/outbox.ts);
 * the workers (delivery.ts) send them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { isUuid } from '../db/ids';
import type { DeliveryStatus } from '../db/schema';
import { BadInputError, NotFoundError } from '../errors';
import { checkPageSize, decodeCursor, encodeCursor } from '../graphql/pagination';
import * as repo from './webhooks.repo';
import { checkWebhook } from './webhooks.rules';

export interface WebhookInput { url: string; events: readonly string[]; description?: string | null }

/** Registers a webhook; its secret (32 random bytes, hex, prefixed whsec_) is in the answer and never again. */
export async function createWebhook(ctx: Ctx, input: WebhookInput): Promise<{ webhook: repo.WebhookRow; secret: string }> {
  const terms = checkWebhook(input, ctx.config.webhooks);
  const now = await ctx.now();
  const secret = `whsec_${randomBytes(32).toString('hex')}`;
  const webhook = await repo.insertWebhook(ctx.db, {
    id: randomUUID(), url: terms.url.href, events: terms.events, description: terms.description, secret, created_at: now, updated_at: now,
  });
  return { webhook, secret };
}

export async function setWebhookActive(ctx: Ctx, id: string, active: boolean): Promise<repo.WebhookRow> {
  const webhook = isUuid(id) ? await repo.setActive(ctx.db, id, active, await ctx.now()) : undefined;
  if (!webhook) throw new NotFoundError('Webhook');
  return webhook;
}

export function listWebhooks(ctx: Ctx): Promise<repo.WebhookRow[]> {
  return repo.listWebhooks(ctx.db);
}

/** A webhook's deliveries, newest first. */
export async function listDeliveries(
  ctx: Ctx, args: { webhookId: string; status?: DeliveryStatus | null; first?: number | null; after?: string | null },
): Promise<repo.DeliveryPageView> {
  const limit = checkPageSize(args.first);
  if (!isUuid(args.webhookId) || !(await repo.findWebhook(ctx.db, args.webhookId))) throw new NotFoundError('Webhook');
  const after = args.after ? decodeCursor(args.after, 2) : undefined;
  const at = after ? new Date(after[0] as string) : undefined;
  if (after && (Number.isNaN(at?.getTime()) || !isUuid(after[1] as string))) throw new BadInputError('Invalid cursor', 'after');
  const query = repo.deliveries(ctx.db, args.webhookId, args.status ?? null, limit, after ? [at as Date, after[1] as string] : undefined);
  const rows = await query.page();
  const edges = rows.slice(0, limit).map((node) => ({ cursor: encodeCursor([node.created_at.toISOString(), node.id]), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null }, countTotal: query.count };
}

/** Sends a delivery's event again (the same event id), as a new delivery due now. */
export async function replayDelivery(ctx: Ctx, id: string): Promise<repo.DeliveryRow> {
  const delivery = isUuid(id) ? await repo.findDelivery(ctx.db, id) : undefined;
  if (!delivery) throw new NotFoundError('Webhook delivery');
  return repo.replay(ctx.db, delivery);
}

export function deliveryAttempts(db: Db, deliveryId: string): Promise<repo.AttemptRow[]> {
  return repo.attemptsOf(db, deliveryId);
}

/** The maintenance pass's part: points.expiring for lots expiring within `days`, once per lot. Answers how many. */
export async function noticeExpiringLots(db: Db, now: Date, days: number): Promise<number> {
  const until = new Date(now.getTime() + days * 86_400_000);
  let total = 0;
  for (;;) {
    const n = await repo.noticeExpiring(db, now, until, 1000);
    total += n;
    if (n < 1000) return total;
  }
}

/** The maintenance pass's part: events older than the retention, all delivered or failed, go. */
export async function purgeOldEvents(db: Db, now: Date, retentionDays: number): Promise<number> {
  const before = new Date(now.getTime() - retentionDays * 86_400_000);
  await repo.purgeNotices(db, before);
  let total = 0;
  for (;;) {
    const n = await repo.purgeEvents(db, before, 1000);
    total += n;
    if (n < 1000) return total;
  }
}
