import { actorKey, requireActor, requireMemberAccess } from '../auth/guards';
import type { Ctx } from '../context';
import { BadInputError, ForbiddenError, InvalidStateError, NotFoundError } from '../errors';
import { credit, debit } from '../ledger/ledger.core';
import { MAX_POINTS_PER_TRANSACTION, clawbackFor, creditRoom, requestHash } from '../ledger/ledger.rules';
import type { EarnComponent, PurchaseResultView, RefundResultView, TransactionRow } from '../ledger/ledger.types';
import { readOnlyUnit, runUnit, type Replay } from '../ledger/unit-of-work';
import { byRecordRow } from '../ledger/idempotency';
import type { MemberRow } from '../db/rows';
import { checkDecimal, fromUnits, toUnits } from '../money';
import { getProgram } from '../program/program.service';
import { currentTier, tierStatusRules } from '../tiers/tiers.service';
import { earning } from './earning.rules';
import { partnerEarnRate } from '../partners/partners.service';
import type { ProgramView, TierView } from '../program/program.types';
import { awardRecords, hasRules, planBudgets, plainReads, ruleAwards, ruleComponent, unitReads, type Award, type RuleReads } from '../rules/rules.awards';
import { REFERRAL_EVENT, referralAtPurchase, reverseAtRefund, rewardReferral, withPendingReferral, withReferrer, type DecidedReferral } from '../referrals/referrals.service';
import { recordServiceEvent } from './events.service';
import * as repo from './purchases.repo';

export interface PurchaseItem { sku: string; category?: string | null; quantity: number; unitPrice: string }
export interface PurchaseInput {
  memberId: string; orderId: string; amount: string; currency: string;
  channel?: string | null; occurredAt?: Date | null; items?: PurchaseItem[] | null;
}

const MAX_AMOUNT_UNITS = 10_000_000_000n; // 100,000,000.00 in one order
const MAX_QUANTITY = 100_000;

function checkOrderId(value: string, field: string): string {
  const trimmed = value.trim();
  if (trimmed.length < 1 || trimmed.length > 200) throw new BadInputError(`${field} must be 1-200 characters`, field);
  return trimmed;
}

function checkItems(items: PurchaseItem[] | null | undefined) {
  if (!items) return null;
  if (items.length > 500) throw new BadInputError('At most 500 items per purchase', 'items');
  return items.map((item, i) => {
    if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
      throw new BadInputError(`items[${i}].quantity must be 1-${MAX_QUANTITY}`, 'items');
    }
    const unitPrice = checkDecimal(item.unitPrice, `items[${i}].unitPrice`, { min: 0, scale: 2 });
    if (toUnits(unitPrice, 2) > MAX_AMOUNT_UNITS) throw new BadInputError(`items[${i}].unitPrice is larger than one order can be`, 'items');
    const category = item.category?.trim() || null;
    if (category !== null && category.length > 100) throw new BadInputError(`items[${i}].category must be at most 100 characters`, 'items');
    return { sku: checkOrderId(item.sku, `items[${i}].sku`), category, quantity: item.quantity, unitPrice };
  });
}

/** A purchase is done once its order is recorded. */
function byOrder(orderId: string, hash: string): Replay<PurchaseResultView> {
  return byRecordRow(orderId, hash, repo.orderRecorded(orderId), repo.findOrder, (order, member, transaction) => ({
    transaction, pointsEarned: order.points_earned, qualifyingPointsEarned: order.qualifying_points, breakdown: order.breakdown as EarnComponent[], member,
  }));
}

/** A purchase as checked: what earning reads of it. */
interface Cart {
  orderId: string;
  amount: string;
  cents: bigint;
  currency: string;
  channel: string | null;
  occurredAt: Date | null;
  items: ReturnType<typeof checkItems>;
}

/** Checks a purchase as recorded or quoted; BAD_USER_INPUT naming the field otherwise. */
function checkCart(input: PurchaseInput, program: ProgramView, now: Date): Cart {
  const orderId = checkOrderId(input.orderId, 'orderId');
  const amount = checkDecimal(input.amount, 'amount', { scale: 2, positive: true });
  const cents = toUnits(amount, 2);
  if (cents > MAX_AMOUNT_UNITS) throw new BadInputError('amount is larger than one order can be', 'amount');
  if (input.currency !== program.currency) {
    throw new BadInputError(`currency must be the programme currency ${program.currency}`, 'currency');
  }
  const occurredAt = input.occurredAt ?? null;
  if (occurredAt && occurredAt.getTime() > now.getTime()) throw new BadInputError('occurredAt cannot be in the future', 'occurredAt');
  return { orderId, amount, cents, currency: input.currency, channel: input.channel?.trim() || null, occurredAt, items: checkItems(input.items) };
}

/** Who records the purchase: its partner (null for an administrator) and that partner's own earn rate, if it has one. */
interface PurchasePartner { partnerId: string | null; earnRate: string | null }

/** The calling partner and its earn rate (partners/partners.service.ts), read once per request. */
async function purchasePartner(ctx: Ctx): Promise<PurchasePartner> {
  return { partnerId: ctx.actor?.partnerId ?? null, earnRate: await partnerEarnRate(ctx) };
}

interface CartEarning {
  points: number;
  qualifying: number;
  breakdown: EarnComponent[];
  awards: Award[];
}

/**
 * What a cart earns the member at `now`: base points at the earn rate, the tier's multiplier,
 * then each rule that applies (rules/rules.awards.ts). recordPurchase and quoteEarn both ask
 * this, so a quote is what the purchase then awards at the same instant.
 */
async function cartEarning(
  reads: RuleReads, program: ProgramView, member: MemberRow, tier: TierView, cart: Cart, partner: PurchasePartner, now: Date,
): Promise<CartEarning> {
  const { partnerId, earnRate } = partner;
  const { base, total, breakdown } = earning(program, cart.cents, tier, earnRate);
  if (total > MAX_POINTS_PER_TRANSACTION) {
    throw new BadInputError(`this purchase would earn ${total} points, more than one transaction may move (${MAX_POINTS_PER_TRANSACTION})`, 'amount');
  }
  // Rule bonuses fill what room the credit has left (in the transaction and in the member's
  // lifetime total); they never make a purchase fail.
  const awards = await ruleAwards(reads, program, member, async () => tier.code, {
    kind: 'purchase', cents: cart.cents, currency: cart.currency, channel: cart.channel, orderId: cart.orderId, partnerId, items: cart.items, earnRate,
  }, now, Math.max(0, creditRoom(member.lifetime_earned) - total));
  const points = total + awards.reduce((sum, a) => sum + a.points, 0);
  return {
    points,
    qualifying: base + awards.reduce((sum, a) => sum + a.qualifyingPoints, 0),
    breakdown: [...breakdown, ...awards.map(ruleComponent)],
    awards,
  };
}

/**
 * Records a purchase and credits its points: floor(amount × earn rate × tier multiplier) plus
 * what the active earning rules award, pending for the programme's pending days. Idempotent on
 * orderId.
 */
export async function recordPurchase(ctx: Ctx, input: PurchaseInput): Promise<PurchaseResultView> {
  const actor = requireActor(ctx);
  const now = await ctx.now();
  const cart = checkCart(input, await getProgram(ctx.db), now);
  const { orderId, amount, channel, items } = cart;
  const occurredAt = cart.occurredAt ?? now;
  const partner = await purchasePartner(ctx);
  const { partnerId } = partner;
  const hash = requestHash({ memberId: input.memberId.toLowerCase(), amount, currency: input.currency, channel, occurredAt: input.occurredAt ?? null, items, partnerId });

  // A member with a referral to decide needs its referrer in the unit too: the first attempt,
  // with the member alone, finds that out in its member read and the purchase runs again with
  // both (referrals.service withReferrer). Every other purchase runs once, as it always did.
  const outcome = await withReferrer([input.memberId], (members) => runUnit<Purchased>(ctx, {
    members, status: PURCHASE_STATUS, qualifying: true, replay: byOrder(orderId, hash),
    // The referrer's standing must not stop the referee's purchase; the referee's is checked below.
    active: members.length === 1,
  }, async (work) => {
    const member = work.member(input.memberId);
    if (member.status !== 'ACTIVE') throw new InvalidStateError(`Member is ${member.status.toLowerCase()}: points cannot move`);
    const referral = await referralAtPurchase(work, member);
    const at = work.now;
    const tier = await currentTier(work, member, work.program, at);
    const earned = await cartEarning(unitReads(work), work.program, member, tier, cart, partner, at);
    const pendingUntil = new Date(occurredAt.getTime() + work.program.pending_days * 86_400_000);
    const availableAt = pendingUntil.getTime() > at.getTime() ? pendingUntil : at;
    let txn: TransactionRow | null = null;
    if (earned.points > 0) {
      txn = await credit(work, member, {
        type: 'PURCHASE', points: earned.points, qualifyingPoints: earned.qualifying, description: `Purchase ${orderId}`,
        orderId, partnerId, actor: actorKey(actor), occurredAt, ruleAwards: awardRecords(earned.awards),
      }, { availableAt, purchase: { spendCents: Number(cart.cents) } });
      planBudgets(work, earned.awards);
    }
    work.write(repo.insertOrder({
      order_id: orderId, member_id: member.id, partner_id: partnerId, amount, currency: input.currency,
      channel, items: items ? JSON.stringify(items) : null, occurred_at: occurredAt, txn_id: txn?.id ?? null,
      points_earned: earned.points, qualifying_points: earned.qualifying, breakdown: JSON.stringify(earned.breakdown), request_hash: hash, created_at: at,
    }));
    const decided = referral ? await rewardReferral(work, member, referral, { orderId, availableAt }) : null;
    return { transaction: txn, pointsEarned: earned.points, qualifyingPointsEarned: earned.qualifying, breakdown: earned.breakdown, member, referral: decided };
  }));
  if (outcome.referral) await referralEvent(ctx, outcome.referral);
  return outcome;
}

/** A purchase's outcome; `referral` when it decided the member's referral (a replay does not say). */
type Purchased = PurchaseResultView & { referral?: DecidedReferral | null };

/** The member read of a purchase also asks for the member's pending referral. */
const PURCHASE_STATUS = withPendingReferral(tierStatusRules);

/**
 * Sends the referrer of a referral just rewarded the `referral` event, which the active rules on
 * that trigger reward, once per referral ever (its key). Sent after the purchase has committed:
 * a process that dies in between loses the event, and a failure to send it is logged and does not
 * turn the recorded purchase into an error (see docs/referrals.md).
 */
async function referralEvent(ctx: Ctx, referral: DecidedReferral): Promise<void> {
  if (referral.status !== 'REWARDED' || !referral.referrerActive || !hasRules(await getProgram(ctx.db), REFERRAL_EVENT)) return;
  try {
    await recordServiceEvent(ctx, referral.referrerId, REFERRAL_EVENT, `referral:${referral.id}`);
  } catch (error) {
    ctx.log().error({ err: error, referralId: referral.id, memberId: referral.referrerId }, 'referral event not recorded');
  }
}

export interface EarnQuoteView { points: number; qualifyingPoints: number; breakdown: EarnComponent[] }

/**
 * What `input` would earn if recorded now: the same computation as recordPurchase, on the
 * member as a unit of work reads it and plain reads of the rules' figures; writes nothing and
 * locks nothing, and does not ask whether orderId was recorded.
 */
export async function quoteEarn(ctx: Ctx, input: PurchaseInput): Promise<EarnQuoteView> {
  requireMemberAccess(ctx, input.memberId);
  const cart = checkCart(input, await getProgram(ctx.db), await ctx.now());
  const partner = await purchasePartner(ctx);
  return readOnlyUnit(ctx, { members: [input.memberId], status: tierStatusRules, qualifying: true }, async (work) => {
    const member = work.member(input.memberId);
    const tier = await currentTier(work, member, work.program, work.now);
    const earned = await cartEarning(plainReads(work.db), work.program, member, tier, cart, partner, work.now);
    return { points: earned.points, qualifyingPoints: earned.qualifying, breakdown: earned.breakdown };
  });
}

export interface RefundInput { orderId: string; refundId: string; amount: string }

/** A refund is done once its row is recorded. */
function byRefund(refundId: string, hash: string): Replay<RefundResultView> {
  return byRecordRow(refundId, hash, repo.refundRecorded(refundId), repo.findRefund, (refund, member, transaction) => ({
    transaction, pointsReversed: refund.points_reversed, member,
  }));
}

/**
 * Refunds part or all of an order. The clawback is proportional to the cumulative refunded
 * share, so refunds together never reverse more than the order earned. Points still pending
 * are cancelled from the order's own lot; spendable ones are debited, following the
 * programme's negative-balance setting. Idempotent on refundId.
 */
export async function refundPurchase(ctx: Ctx, input: RefundInput): Promise<RefundResultView> {
  const actor = requireActor(ctx);
  const orderId = checkOrderId(input.orderId, 'orderId');
  const refundId = checkOrderId(input.refundId, 'refundId');
  const amount = checkDecimal(input.amount, 'amount', { scale: 2, positive: true });
  const order = await repo.orderOwner(ctx.db, orderId);
  if (!order) throw new NotFoundError('Order');
  if (actor.role === 'PARTNER' && order.partner_id !== actor.partnerId) throw new ForbiddenError('A partner may refund only its own orders');
  const hash = requestHash({ orderId, amount });

  // A refund that reverses a referral needs the referrer in the unit: found out inside, as for purchases.
  return withReferrer([order.member_id], (members) => runUnit(ctx, {
    members, status: tierStatusRules, qualifying: true, active: false, lots: true, replay: byRefund(refundId, hash),
  }, async (work) => {
    const member = work.member(order.member_id);
    const at = work.now;
    const current = await repo.findOrder(work.db, orderId);
    if (!current) throw new NotFoundError('Order');
    const refundable = toUnits(current.amount, 2) - toUnits(current.refunded_amount, 2);
    if (refundable <= 0n) throw new InvalidStateError(`Order ${orderId} is already fully refunded`);
    if (toUnits(amount, 2) > refundable) {
      throw new BadInputError(`amount exceeds what is left to refund (${fromUnits(refundable, 2)})`, 'amount');
    }
    const points = clawbackFor(current.amount, current.refunded_amount, amount, current.points_earned, current.points_reversed);
    const qualifying = clawbackFor(current.amount, current.refunded_amount, amount, current.qualifying_points, current.qualifying_reversed);
    let txn: TransactionRow | null = null;
    if (points > 0 || qualifying > 0) {
      const ownLot = current.txn_id ? await repo.lotOfTransaction(work.db, current.txn_id) : undefined;
      const pendingLot = ownLot && ownLot.available_at.getTime() > at.getTime() && ownLot.remaining > 0
        ? [{ id: ownLot.id, remaining: ownLot.remaining, expiresAt: ownLot.expires_at, earnedAt: ownLot.earned_at }]
        : [];
      // The clawback belongs to the order's partner, whoever files the refund, so that partner's
      // statement view shows both sides of its order.
      txn = await debit(work, member, {
        type: 'REFUND', points, qualifyingPoints: qualifying, description: `Refund ${refundId} of ${orderId}`,
        orderId, partnerId: current.partner_id, actor: actorKey(actor), relatedId: current.txn_id,
      }, { mode: 'CLAWBACK', allowNegative: work.program.allow_negative_balance, preferLots: pendingLot });
    }
    work.write(repo.refundOrder(orderId, {
      refunded_amount: fromUnits(toUnits(current.refunded_amount, 2) + toUnits(amount, 2), 2),
      points_reversed: current.points_reversed + points,
      qualifying_reversed: current.qualifying_reversed + qualifying,
    }));
    work.write(repo.insertRefund({
      refund_id: refundId, order_id: orderId, member_id: member.id, amount, txn_id: txn?.id ?? null,
      points_reversed: points, request_hash: hash, created_at: at,
    }));
    await reverseAtRefund(work, { orderId, refundId, fullyRefunded: toUnits(amount, 2) === refundable, actor: actorKey(actor) });
    return { transaction: txn, pointsReversed: points, member };
  }));
}
