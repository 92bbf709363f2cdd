import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { writeInstant, type Ctx } from '../context';
import { defer, touchMember } from '../db/deferred';
import { actorKey, requireRole } from '../auth/guards';
import { inTransaction, withEmbeddedCount } from '../db/transaction';
import { BadInputError, ForbiddenError, IdempotencyConflictError, InvalidStateError, NotFoundError } from '../errors';
import { getProgram } from '../program/program.service';
import { awardsBonuses, currentTier, purchaseMetricsRead, readsTierState } from '../tiers/tiers.service';
import { hasLifetimeTiers } from '../tiers/tiers.engine';
import { partIn } from '../tiers/tiers.repo';
import { qualificationWindow, thresholdsOf, validityEnd } from '../tiers/tiers.rules';
import { isUuid } from '../members/members.rules';
import type { ProgramView, TierView } from '../program/program.types';
import { credit, debit, expiryPolicy, lockMember, lockMemberProbing, settleExpiry } from './ledger.core';
import * as purchases from './purchase.repo';
import { purchaseBatcher } from './purchase.batch';
import * as members from '../members/members.repo';
import type { MemberRow } from '../members/members.repo';
import * as repo from './ledger.repo';
import { clawbackFor, lotExpiry, multiplierUnits, pointsForUnits, requestHash } from './ledger.rules';
import { orReplay } from './idempotency';
import { checkDecimal, fromUnits, toUnits } from './money';
import type { EarnComponent, PurchaseResultView, RefundResultView, TransactionRow } from './ledger.types';

export interface PurchaseItem { sku: string; category?: string | null; quantity: number; unitPrice: string }
export interface PurchaseInput {
  memberId: string; orderId: string; amount: string; currency: string;
  channel?: string | null; occurredAt?: Date | null; items?: PurchaseItem[] | null;
}

/** What a purchase's transaction settled: the order's figures, the member and, for new work, its entry. */
interface PurchaseOutcome {
  order: { pointsEarned: number; qualifyingPoints: number; breakdown: EarnComponent[]; txnId: string | null };
  member: MemberRow;
  fresh: { txn: TransactionRow | null } | undefined;
}

const MAX_AMOUNT_UNITS = 10_000_000_000n; // 100,000,000.00 in one order

function checkOrderId(value: string, field: string): string {
  const trimmed = value.trim();
  if (trimmed.length < 1 || trimmed.length > 200) throw new BadInputError(`${field} must be 1-200 characters`, field);
  return trimmed;
}

function checkItems(items: PurchaseItem[] | null | undefined) {
  if (!items) return null;
  if (items.length > 500) throw new BadInputError('At most 500 items per purchase', 'items');
  return items.map((item, i) => {
    if (!Number.isInteger(item.quantity) || item.quantity < 1) throw new BadInputError(`items[${i}].quantity must be at least 1`, 'items');
    return {
      sku: checkOrderId(item.sku, `items[${i}].sku`),
      category: item.category?.trim() || null,
      quantity: item.quantity,
      unitPrice: checkDecimal(item.unitPrice, `items[${i}].unitPrice`, { min: 0, scale: 2 }),
    };
  });
}

/**
 * Records a purchase and credits its points: floor(amount × earn rate × tier multiplier),
 * pending for the programme's pending days. Idempotent on orderId: a retry of the same request
 * returns the first result; the same orderId with a different request is IDEMPOTENCY_CONFLICT.
 */
export async function recordPurchase(ctx: Ctx, input: PurchaseInput): Promise<PurchaseResultView> {
  const actor = requireRole(ctx, 'ADMIN', 'PARTNER');
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  const orderId = checkOrderId(input.orderId, 'orderId');
  const amount = checkDecimal(input.amount, 'amount', { scale: 2, positive: true });
  const cents = toUnits(amount, 2);
  if (cents > MAX_AMOUNT_UNITS) throw new BadInputError('amount is larger than one order can be', 'amount');
  if (input.currency !== program.currency) {
    throw new BadInputError(`currency must be the programme currency ${program.currency}`, 'currency');
  }
  const occurredAt = input.occurredAt ?? now;
  if (occurredAt.getTime() > now.getTime()) throw new BadInputError('occurredAt cannot be in the future', 'occurredAt');
  const channel = input.channel?.trim() || null;
  const items = checkItems(input.items);
  const hash = requestHash({
    memberId: input.memberId, amount, currency: input.currency, channel, occurredAt: input.occurredAt ?? null, items,
    partnerId: actor.partnerId ?? null,
  });

  const atOnce = await recordAtOnce(ctx, program, {
    memberId: input.memberId, orderId, amount, currency: input.currency, channel, items, occurredAt, hash, now,
    partnerId: actor.partnerId ?? null, actor: actorKey(actor),
  });
  if (atOnce) return atOnce;

  // The member row locked (and kept current by the ledger writes) is the member to return. The
  // lock also asks whether the order is recorded; a duplicate it misses (committed while this
  // request waited for the lock) collides on the order's primary key and the retry replays.
  const { order, member, fresh } = await inTransaction(ctx.db, async (tx) => {
    const { member, probed } = await lockMemberProbing(tx, input.memberId, {
      active: false, now, probe: sql<boolean>`exists (select 1 from orders o where o.order_id = ${orderId})`, tierState: readsTierState(program),
      metrics: purchaseMetricsRead(program, now),
    });
    const recorded = async (as: MemberRow): Promise<PurchaseOutcome | undefined> => {
      const existing = await tx.selectFrom('orders').selectAll().where('order_id', '=', orderId).executeTakeFirst();
      if (!existing) return undefined;
      if (existing.request_hash !== hash) throw new IdempotencyConflictError(orderId);
      // A retry that arrived before the write it replays answers as of that write, as the first
      // request did: its points are not shown pending for longer than they are.
      await writeInstant(ctx, as.updated_at);
      const order = { pointsEarned: existing.points_earned, qualifyingPoints: existing.qualifying_points, breakdown: existing.breakdown as EarnComponent[], txnId: existing.txn_id };
      return { order, member: as, fresh: undefined };
    };
    if (probed) {
      const replayed = await recorded(member);
      if (!replayed) throw new Error(`order ${orderId} vanished`);
      return replayed;
    }
    // A refusal after a stale probe replays the order (orReplay), with the member as stored: the
    // abandoned work may have changed the locked row's copy.
    return orReplay<PurchaseOutcome>(tx, async () => {
      if (member.status !== 'ACTIVE') throw new InvalidStateError(`Member is ${member.status.toLowerCase()}: points cannot move`);
      const at = await writeInstant(ctx, member.updated_at);
      await settleExpiry(tx, member, program, at);
      const { base, total, breakdown } = earning(program, cents, await currentTier(tx, member, program, at));
      const order = { pointsEarned: total, qualifyingPoints: base, breakdown, txnId: total > 0 ? randomUUID() : null };
      // Written by the credit's statement (or before COMMIT when nothing is credited).
      defer(tx, (qc) => qc.insertInto('orders').values({
        order_id: orderId, member_id: member.id, partner_id: actor.partnerId ?? null, amount, currency: input.currency,
        channel, items: items ? JSON.stringify(items) : null, occurred_at: occurredAt, txn_id: order.txnId,
        points_earned: total, qualifying_points: base, breakdown: JSON.stringify(breakdown), request_hash: hash, created_at: at,
      }));
      let txn: TransactionRow | null = null;
      if (order.txnId) {
        const availableAt = new Date(occurredAt.getTime() + program.pending_days * 86_400_000);
        txn = await credit(tx, member, program, at, {
          id: order.txnId, type: 'PURCHASE', points: total, qualifyingPoints: base, description: `Purchase ${orderId}`,
          orderId, partnerId: actor.partnerId ?? null, actor: actorKey(actor), occurredAt,
        }, { availableAt: availableAt.getTime() > at.getTime() ? availableAt : at, last: true, purchase: { spendCents: Number(cents) } });
      } else {
        // An order that earns nothing still changes the member's tier metrics: mark the row (db/deferred.ts touchMember).
        touchMember(tx, member.id, at);
      }
      return { order, member, fresh: { txn } };
    }, async () => {
      const stored = await members.findById(tx, member.id);
      return stored ? recorded(stored) : undefined;
    });
  }, { ahead: ctx.rateCount });
  const txn = fresh ? fresh.txn : order.txnId ? ((await repo.findTransaction(ctx.db, order.txnId)) ?? null) : null;
  return {
    transaction: txn,
    pointsEarned: order.pointsEarned,
    qualifyingPointsEarned: order.qualifyingPoints,
    breakdown: order.breakdown,
    member,
  };
}

/**
 * What a purchase reads of its programme, worked out once per programme as loaded: the earn
 * rate in units, each rung's multiplier and the breakdowns' wording, and the ladder as the
 * one-statement purchase reads it.
 */
interface EarnTerms {
  rate: bigint;
  base: string;
  rungs: Map<TierView, { multiplier: bigint; description: string }>;
  ladder: purchases.Ladder;
}

const TERMS = new WeakMap<ProgramView, EarnTerms>();
/** The base points' multiplier: ×1. */
const ONE = multiplierUnits(1);

function termsOf(program: ProgramView): EarnTerms {
  let terms = TERMS.get(program);
  if (!terms) {
    terms = {
      rate: toUnits(program.earn_rate, 4),
      base: `${program.earn_rate} ${program.points_name} per ${program.currency}`,
      rungs: new Map(program.tiers.map((tier) => [tier, rungTerms(tier)])),
      ladder: purchases.ladderFor(program.tiers.map((tier) => ({ code: tier.code, rank: tier.rank, earnable: !tier.invitation_only, ...thresholdsOf(tier) }))),
    };
    TERMS.set(program, terms);
  }
  return terms;
}

function rungTerms(tier: TierView) {
  return { multiplier: multiplierUnits(tier.earn_multiplier), description: `${tier.name} ×${Number(tier.earn_multiplier)}` };
}

/** What a purchase of `cents` earns at `tier`: base (qualifying) points, the total with the tier's multiplier, and how. */
function earning(program: ProgramView, cents: bigint, tier: TierView): { base: number; total: number; breakdown: EarnComponent[] } {
  const terms = termsOf(program);
  const rung = terms.rungs.get(tier) ?? rungTerms(tier);
  const base = pointsForUnits(cents, terms.rate, ONE);
  const total = pointsForUnits(cents, terms.rate, rung.multiplier);
  const breakdown: EarnComponent[] = [{ source: 'BASE', description: terms.base, points: base, qualifyingPoints: base }];
  if (total !== base) breakdown.push({ source: 'TIER_MULTIPLIER', description: rung.description, points: total - base, qualifyingPoints: 0 });
  return { base, total, breakdown };
}

/** A purchase request after its checks, as both paths take it. */
export interface CheckedPurchase {
  memberId: string; orderId: string; amount: string; currency: string; channel: string | null;
  items: ReturnType<typeof checkItems>; occurredAt: Date; hash: string; now: Date; partnerId: string | null; actor: string;
}

/**
 * The one-statement purchase (purchase.repo.ts) for this programme: the points for every rung
 * computed here, as the general path computes them (the statement credits those of the rung
 * the member holds), and the lot's dates. Undefined for programmes whose rules do more on every
 * purchase (see purchase.repo) and for a purchase that earns nothing at any rung.
 */
export function atOncePlan(program: ProgramView, p: CheckedPurchase): Omit<purchases.PurchaseAtOnce, 'count'> | undefined {
  if (program.expiry_mode === 'INACTIVITY' || program.freeze_expiry_min_rank != null || awardsBonuses(program) || !isUuid(p.memberId)) return undefined;
  if (program.tiers.length > 1 && (hasLifetimeTiers(program) || program.qualification_window === 'ANNIVERSARY_YEAR')) return undefined;
  const cents = toUnits(p.amount, 2);
  const earned = program.tiers.map((tier) => earning(program, cents, tier));
  if (earned.every((rung) => rung.total === 0)) return undefined;
  // The base points are the same at every rung.
  const { base } = earned[0] as { base: number };
  const window = qualificationWindow(program.qualification_window, p.now, p.now);
  const availableAt = new Date(p.occurredAt.getTime() + program.pending_days * 86_400_000);
  return {
    memberId: p.memberId, orderId: p.orderId, txnId: randomUUID(), lotId: randomUUID(), now: p.now,
    order: {
      partnerId: p.partnerId, amount: p.amount, currency: p.currency, channel: p.channel, items: p.items ? JSON.stringify(p.items) : null,
      occurredAt: p.occurredAt, requestHash: p.hash,
    },
    description: `Purchase ${p.orderId}`, actor: p.actor, qualifyingPoints: base,
    availableAt: availableAt.getTime() > p.now.getTime() ? availableAt : p.now,
    expiresAt: lotExpiry(expiryPolicy(program), p.occurredAt, p.now),
    ladder: termsOf(program).ladder, earned, window,
    // Programmes on an anniversary window take the general path, so the end of status gained
    // now does not depend on the member's enrolment (tiers.engine validityFor).
    upgradeValidUntil: validityEnd(program.qualification_window, p.now, p.now),
    own: partIn({ points: base, spendCents: Number(cents), purchase: true, occurredAt: p.occurredAt, createdAt: p.now }, window, p.now),
  };
}

/**
 * The common purchase in one statement, its rate-limit count inside it: no transaction of its
 * own, one round trip, and the statement shared with the purchases that arrive with it
 * (purchase.batch.ts). Undefined where the statement left the purchase to the general path, having
 * written nothing but the count (a replay, a member who is not active, owes a debt, has lots to
 * expire or whose tier would move; a statement that failed, such as a racing duplicate order),
 * and wherever atOncePlan gives no plan.
 */
async function recordAtOnce(ctx: Ctx, program: ProgramView, p: CheckedPurchase): Promise<PurchaseResultView | undefined> {
  const plan = ctx.config.oneStatementWrites ? atOncePlan(program, p) : undefined;
  if (!plan) return undefined;
  const batcher = purchaseBatcher(ctx.statements, ctx.config.purchaseBatch);
  const outcome = await withEmbeddedCount(ctx.rateCount, (count) => batcher.run({ ...plan, count }));
  if (!outcome) return undefined;
  if (!outcome.written) {
    // A refused count ends the request here, before the general path costs the database more.
    await ctx.rateCount?.settled();
    return undefined;
  }
  // The statement wrote at the request's own instant (it declines a member changed later), so
  // the request's instant needs no moving, unlike a one-statement redemption's.
  const { entry, member, rung } = outcome.written;
  return { transaction: entry, pointsEarned: rung.total, qualifyingPointsEarned: plan.qualifyingPoints, breakdown: rung.breakdown, member };
}

export interface RefundInput { orderId: string; refundId: string; amount: string }

/**
 * Refunds part or all of an order. The clawback is proportional to the cumulative refunded
 * share, so refunds together never reverse more than the order earned. Points still pending
 * are cancelled from the order's own lot; spendable ones are debited, following the
 * programme's negative-balance setting. Idempotent on refundId.
 */
export async function refundPurchase(ctx: Ctx, input: RefundInput): Promise<RefundResultView> {
  const actor = requireRole(ctx, 'ADMIN', 'PARTNER');
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  const orderId = checkOrderId(input.orderId, 'orderId');
  const refundId = checkOrderId(input.refundId, 'refundId');
  const amount = checkDecimal(input.amount, 'amount', { scale: 2, positive: true });
  const order = await ctx.db.selectFrom('orders').select(['member_id', 'partner_id']).where('order_id', '=', orderId).executeTakeFirst();
  if (!order) throw new NotFoundError('Order');
  if (actor.role === 'PARTNER' && order.partner_id !== actor.partnerId) throw new ForbiddenError('A partner may refund only its own orders');
  const hash = requestHash({ orderId, amount });

  // As for purchases: the locked member row, kept current by the ledger writes, is the one to return.
  const { refund, member, fresh } = await inTransaction(ctx.db, async (tx) => {
    const member = await lockMember(tx, order.member_id, { active: false, now });
    const existing = await tx.selectFrom('refunds').selectAll().where('refund_id', '=', refundId).executeTakeFirst();
    if (existing) {
      if (existing.request_hash !== hash) throw new IdempotencyConflictError(refundId);
      return { refund: existing, member, fresh: undefined };
    }
    const at = await writeInstant(ctx, member.updated_at);
    const current = await tx.selectFrom('orders').selectAll().where('order_id', '=', orderId).forUpdate().executeTakeFirstOrThrow();
    const refundable = toUnits(current.amount, 2) - toUnits(current.refunded_amount, 2);
    if (refundable <= 0n) throw new InvalidStateError(`Order ${orderId} is already fully refunded`);
    if (toUnits(amount, 2) > refundable) {
      throw new BadInputError(`amount exceeds what is left to refund (${fromUnits(refundable, 2)})`, 'amount');
    }
    await settleExpiry(tx, member, program, at);
    const points = clawbackFor(current.amount, current.refunded_amount, amount, current.points_earned, current.points_reversed);
    const qualifying = clawbackFor(current.amount, current.refunded_amount, amount, current.qualifying_points, current.qualifying_reversed);
    let txn: TransactionRow | null = null;
    if (points > 0 || qualifying > 0) {
      const ownLot = current.txn_id ? await repo.lotOfTransaction(tx, current.txn_id) : undefined;
      const pendingLot = ownLot && ownLot.available_at.getTime() > at.getTime() && ownLot.remaining > 0
        ? [{ id: ownLot.id, remaining: ownLot.remaining, expiresAt: ownLot.expires_at, earnedAt: ownLot.earned_at }]
        : [];
      // The clawback belongs to the order's partner, whoever files the refund, so that partner's
      // statement view shows both sides of its order.
      txn = await debit(tx, member, program, at, {
        type: 'REFUND', points, qualifyingPoints: qualifying, description: `Refund ${refundId} of ${orderId}`,
        orderId, partnerId: current.partner_id, actor: actorKey(actor), relatedId: current.txn_id,
      }, { mode: 'CLAWBACK', allowNegative: program.allow_negative_balance, preferLots: pendingLot });
    } else {
      // Nothing to claw back, but the member's tier metrics change: mark the row (db/deferred.ts touchMember).
      touchMember(tx, member.id, at);
    }
    await tx.updateTable('orders').set({
      refunded_amount: fromUnits(toUnits(current.refunded_amount, 2) + toUnits(amount, 2), 2),
      points_reversed: current.points_reversed + points,
      qualifying_reversed: current.qualifying_reversed + qualifying,
    }).where('order_id', '=', orderId).execute();
    const refund = await tx.insertInto('refunds').values({
      refund_id: refundId, order_id: orderId, member_id: member.id, amount, txn_id: txn?.id ?? null,
      points_reversed: points, request_hash: hash, created_at: at,
    }).returningAll().executeTakeFirstOrThrow();
    return { refund, member, fresh: { txn } };
  }, { ahead: ctx.rateCount });
  const txn = fresh ? fresh.txn : refund.txn_id ? ((await repo.findTransaction(ctx.db, refund.txn_id)) ?? null) : null;
  return { transaction: txn, pointsReversed: refund.points_reversed, member };
}
