/**
 * The rewards catalogue and its vouchers. A voucher is issued by a unit of work that debits the
 * points (lots, idempotency, the member's lock or version), takes a unit of the reward's stock in
 * the same statement (ledger/unit-of-work.repo.ts CountWrite) and writes the redemption, so
 * stock is never oversold and a member's limit holds whatever the concurrency. Cancelling gives
 * the points and the stock back in one unit, once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import { actorKey, requireActor, requireMemberAccess } from '../auth/guards';
import type { Db } from '../db/database';
import { isUuid } from '../db/ids';
import type { RedemptionStatus } from '../db/schema';
import { AppError, BadInputError, CHECK_VIOLATION, ForbiddenError, InvalidStateError, NotFoundError, UNIQUE_VIOLATION, pgErrorCode } from '../errors';
import { checkPageSize, decodeCursor, encodeCursor } from '../graphql/pagination';
import { debit, returnRedemption } from '../ledger/ledger.core';
import * as ledger from '../ledger/ledger.repo';
import { byKey, checkKey, type IdempotencyRequest } from '../ledger/idempotency';
import { requestHash } from '../ledger/ledger.rules';
import { runUnit } from '../ledger/unit-of-work';
import { balanceOf } from '../points/balance.service';
import { getMember } from '../members/members.service';
import { findPartner } from '../partners/partners.repo';
import { getProgram } from '../program/program.service';
import { currentTier, tierStatusRules } from '../tiers/tiers.service';
import * as repo from './rewards.repo';
import type { RedemptionPageView, RedemptionRow, RewardPageView, RewardRow } from './rewards.repo';
import {
  VOUCHER_BYTES, checkReward, onOffer, readVoucherCode, redeemRefusal, seesVoucher, voucherChange, voucherCode, voucherStatus, type RewardInput,
} from './rewards.rules';

// A reward is read by every redemption of it and changes rarely: kept briefly per process, as
// the programme is. Changes through this process drop it at once; other instances see a change
// within the TTL. Stock is never decided on a kept copy: the unit's statement takes it from the
// row itself, and a kept copy that says none is left is read again before it refuses.
const KEPT_MS = 1000;
const kept = new WeakMap<Db, Map<string, { at: number; reward: Promise<RewardRow | undefined> }>>();

/** The reward by id, through the short-lived per-process copy. */
function keptReward(db: Db, id: string): Promise<RewardRow | undefined> {
  let rewards = kept.get(db);
  if (!rewards) kept.set(db, (rewards = new Map()));
  const now = Date.now();
  const hit = rewards.get(id);
  if (hit && now - hit.at < KEPT_MS) return hit.reward;
  if (rewards.size >= 10_000) rewards.clear();
  const reward = repo.findReward(db, id);
  reward.catch(() => rewards.delete(id));
  rewards.set(id, { at: now, reward });
  return reward;
}

function forgetReward(db: Db, id: string): void {
  kept.get(db)?.delete(id);
}

/** ADMIN sees the whole catalogue; anyone else what is on offer now. */
function seesWholeCatalogue(ctx: Ctx): boolean {
  return requireActor(ctx).role === 'ADMIN';
}

/** A reward's fulfilling partner must be registered. */
async function checkPartner(ctx: Ctx, partnerId: string | null): Promise<void> {
  if (partnerId !== null && !(await findPartner(ctx.db, partnerId))) throw new BadInputError(`No partner ${partnerId} is registered`, 'partnerId');
}

export async function createReward(ctx: Ctx, input: RewardInput): Promise<RewardRow> {
  const terms = checkReward(input);
  await checkPartner(ctx, terms.partner_id);
  const now = await ctx.now();
  try {
    return await repo.insertReward(ctx.db, { ...terms, id: randomUUID(), created_at: now, updated_at: now });
  } catch (error) {
    if (pgErrorCode(error) === UNIQUE_VIOLATION) throw new BadInputError(`A reward with code ${terms.code} exists`, 'code');
    throw error;
  }
}

/** Replaces a reward's terms; its stock may not go below the vouchers already issued. */
export async function updateReward(ctx: Ctx, id: string, input: RewardInput): Promise<RewardRow> {
  const terms = checkReward(input);
  await checkPartner(ctx, terms.partner_id);
  if (!isUuid(id)) throw new NotFoundError('Reward');
  try {
    const updated = await repo.updateReward(ctx.db, id, terms, await ctx.now());
    forgetReward(ctx.db, id);
    if (!updated) throw new NotFoundError('Reward');
    return updated;
  } catch (error) {
    if (pgErrorCode(error) === UNIQUE_VIOLATION) throw new BadInputError(`A reward with code ${terms.code} exists`, 'code');
    if (pgErrorCode(error) === CHECK_VIOLATION) throw new BadInputError('stock may not be less than the vouchers already issued', 'stock');
    throw error;
  }
}

export async function getReward(ctx: Ctx, id: string): Promise<RewardRow | null> {
  const reward = isUuid(id) ? await repo.findReward(ctx.db, id) : undefined;
  if (!reward) return null;
  return seesWholeCatalogue(ctx) || onOffer(reward, await ctx.now()) ? reward : null;
}

export interface CatalogueArgs { first?: number | null; after?: string | null; affordableFor?: string | null }

/**
 * The catalogue, cheapest first. With `affordableFor`, only what that member can redeem now: on
 * offer, within its available points, its tier and its limit, with stock left.
 */
export async function listRewards(ctx: Ctx, args: CatalogueArgs): Promise<RewardPageView> {
  const limit = checkPageSize(args.first);
  const after = args.after ? decodeCursor(args.after, 2) : undefined;
  const cost = after ? Number(after[0]) : 0;
  if (after && (!Number.isInteger(cost) || !isUuid(after[1] as string))) throw new BadInputError('Invalid cursor', 'after');
  const now = await ctx.now();
  const filter: repo.RewardFilter = seesWholeCatalogue(ctx) && !args.affordableFor ? {} : { onOfferAt: now };
  if (args.affordableFor) {
    requireMemberAccess(ctx, args.affordableFor);
    const member = await getMember(ctx, args.affordableFor);
    const [balance, tier] = await Promise.all([balanceOf(ctx, member), currentTier({ db: ctx.db }, member, await getProgram(ctx.db), now)]);
    filter.redeemableBy = { memberId: member.id, available: balance.available, tierRank: tier.rank };
  }
  const query = repo.listRewards(ctx.db, filter, limit, after ? [cost, after[1] as string] : undefined);
  const rows = await query.page();
  const edges = rows.slice(0, limit).map((node) => ({ cursor: encodeCursor([node.points_cost, node.id]), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null }, countTotal: query.count };
}

export interface RedeemRewardInput { memberId: string; rewardId: string; idempotencyKey: string }

/**
 * Spends the member's points on the reward and issues a voucher, idempotent on the key. The
 * refusals come in the order of rewards.rules redeemRefusal, then INSUFFICIENT_POINTS; a refused
 * redemption moves no points and takes no stock.
 */
export async function redeemReward(ctx: Ctx, input: RedeemRewardInput): Promise<RedemptionRow> {
  const actor = requireMemberAccess(ctx, input.memberId);
  const operation = 'redeemReward';
  const idempotency: IdempotencyRequest = {
    scope: actorKey(actor), key: input.idempotencyKey, operation, memberId: input.memberId,
    hash: requestHash({ operation, memberId: input.memberId.toLowerCase(), rewardId: input.rewardId.toLowerCase() }),
  };
  checkKey(idempotency);
  const found = isUuid(input.rewardId) ? await keptReward(ctx.db, input.rewardId.toLowerCase()) : undefined;
  if (!found) throw new NotFoundError('Reward');
  let reward = found;
  return runUnit(ctx, {
    members: [input.memberId], status: tierStatusRules, lots: true,
    replay: byKey(idempotency, ctx.config.idempotencyRetentionDays, {
      store: (redemption: RedemptionRow) => ({ redemptionId: redemption.id }),
      load: (db, stored: { redemptionId: string }) => redemptionOrThrow(db, stored.redemptionId),
    }),
  }, async (work) => {
    const member = work.member(input.memberId);
    const now = work.now;
    // Read after the member (or under its lock): a voucher issued meanwhile changed the member's
    // row, which the unit's write then finds changed.
    const [tier, held] = await Promise.all([
      reward.min_tier_rank === null ? null : currentTier(work, member, work.program, now),
      reward.per_member_limit === null ? 0 : repo.heldBy(work.db, member.id, reward.id),
    ]);
    let refusal = redeemRefusal({ reward, now, tierRank: tier?.rank ?? null, held });
    if (refusal?.code === 'OUT_OF_STOCK') {
      // A kept copy may not know of a voucher cancelled since, or of stock added elsewhere.
      reward = (await repo.findReward(work.db, reward.id)) ?? reward;
      refusal = redeemRefusal({ reward, now, tierRank: tier?.rank ?? null, held });
    }
    if (refusal) throw refusal;
    const entry = await debit(work, member, {
      type: 'REDEEM', points: reward.points_cost, description: `Reward ${reward.code}: ${reward.name}`,
      partnerId: actor.partnerId ?? null, actor: actorKey(actor),
    }, { mode: 'STRICT' });
    // Counted whether or not the reward has a stock (then there is no cap), so a stock set later
    // starts from the vouchers issued, however the change and redemptions interleave.
    work.write(repo.takeStock(reward.id));
    const redemption: RedemptionRow = {
      id: randomUUID(), reward_id: reward.id, member_id: member.id, points_spent: reward.points_cost,
      voucher_code: voucherCodeNow(), status: 'ISSUED', partner_id: actor.partnerId ?? null, txn_id: entry.id, reversal_txn_id: null,
      valid_until: reward.valid_until, created_at: now, used_at: null, cancelled_at: null, cancel_reason: null, expired_at: null,
    };
    work.write(repo.insertRedemption(redemption));
    work.emit('reward.redeemed', member.id, {
      redemptionId: redemption.id, rewardId: reward.id, rewardCode: reward.code, rewardName: reward.name, type: reward.type,
      pointsSpent: redemption.points_spent, voucherCode: redemption.voucher_code, validUntil: redemption.valid_until,
      partnerId: reward.partner_id, transactionId: entry.id,
    });
    return redemption;
  });
}

function voucherCodeNow(): string {
  return voucherCode(randomBytes(VOUCHER_BYTES));
}

async function redemptionOrThrow(db: Db, id: string): Promise<RedemptionRow> {
  const redemption = await repo.findRedemption(db, id);
  if (!redemption) throw new Error(`redemption ${id} vanished`);
  return redemption;
}

/** Whether the caller may see the voucher (rewards.rules seesVoucher). */
async function mayRead(ctx: Ctx, redemption: RedemptionRow): Promise<boolean> {
  const actor = requireActor(ctx);
  const rewardPartner = actor.role === 'PARTNER' ? ((await repo.findReward(ctx.db, redemption.reward_id))?.partner_id ?? null) : null;
  return seesVoucher(actor, redemption, rewardPartner);
}

export async function getRedemption(ctx: Ctx, id: string): Promise<RedemptionRow | null> {
  const redemption = isUuid(id) ? await repo.findRedemption(ctx.db, id) : undefined;
  return redemption && (await mayRead(ctx, redemption)) ? redemption : null;
}

/** A voucher by its code, as typed or scanned at a till. */
export async function findVoucher(ctx: Ctx, code: string): Promise<RedemptionRow | null> {
  const stored = readVoucherCode(code);
  const redemption = stored ? await repo.findRedemptionByCode(ctx.db, stored) : undefined;
  return redemption && (await mayRead(ctx, redemption)) ? redemption : null;
}

export interface RedemptionsArgs { memberId: string; status?: RedemptionStatus | null; first?: number | null; after?: string | null }

/** A member's vouchers, newest first; a PARTNER sees those it redeemed or whose reward it fulfils. */
export async function listRedemptions(ctx: Ctx, args: RedemptionsArgs): Promise<RedemptionPageView> {
  const actor = requireMemberAccess(ctx, args.memberId);
  const limit = checkPageSize(args.first);
  const after = args.after ? decodeCursor(args.after, 2) : undefined;
  const at = after ? new Date(after[0] as string) : undefined;
  if (after && (Number.isNaN(at?.getTime()) || !isUuid(after[1] as string))) throw new BadInputError('Invalid cursor', 'after');
  if (!isUuid(args.memberId)) throw new NotFoundError('Member');
  const query = repo.listRedemptions(
    ctx.db, args.memberId.toLowerCase(), { status: args.status ?? null, partnerId: actor.role === 'PARTNER' ? (actor.partnerId ?? null) : null },
    limit, after ? [at as Date, after[1] as string] : undefined,
  );
  const rows = await query.page();
  const edges = rows.slice(0, limit).map((node) => ({ cursor: encodeCursor([node.created_at.toISOString(), node.id]), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null }, countTotal: query.count };
}

/** Marks an issued voucher used (ADMIN, or the PARTNER that fulfils its reward); a used one is answered as it is. */
export async function markRedemptionUsed(ctx: Ctx, id: string): Promise<RedemptionRow> {
  const actor = requireActor(ctx);
  const redemption = isUuid(id) ? await repo.findRedemption(ctx.db, id) : undefined;
  if (!redemption) throw new NotFoundError('Redemption');
  if (actor.role === 'PARTNER') {
    const reward = await repo.findReward(ctx.db, redemption.reward_id);
    if (reward?.partner_id !== actor.partnerId) throw new ForbiddenError('A partner may mark used only the vouchers of rewards it fulfils');
  }
  const now = await ctx.now();
  const change = voucherChange('use', voucherStatus(redemption, now));
  if (change instanceof AppError) throw change;
  if (change === 'unchanged') return redemption;
  const used = await repo.markUsed(ctx.db, redemption.id, now);
  if (used) return used;
  // Used, cancelled or expired meanwhile: answered as it now is.
  const current = await redemptionOrThrow(ctx.db, redemption.id);
  const after = voucherChange('use', voucherStatus(current, now));
  if (after === 'unchanged') return current;
  throw after instanceof AppError ? after : new InvalidStateError('This voucher changed meanwhile: try again');
}

/**
 * Cancels an issued voucher: its points come back (a REVERSAL of its entry, lots as they were
 * drawn) and its unit of stock goes back to the reward, in one unit of work, once. A voucher
 * already cancelled is answered as it is; a used or expired one is INVALID_STATE.
 */
export async function cancelRedemption(ctx: Ctx, id: string, reason: string | null | undefined): Promise<RedemptionRow> {
  const actor = requireActor(ctx);
  const why = reason?.trim() || null;
  if (why !== null && why.length > 500) throw new BadInputError('reason must be at most 500 characters', 'reason');
  const found = isUuid(id) ? await repo.findRedemption(ctx.db, id) : undefined;
  if (!found) throw new NotFoundError('Redemption');
  return runUnit(ctx, { members: [found.member_id], status: tierStatusRules, active: false }, async (work) => {
    // Read again within the unit: a cancel racing this one has changed the member's row.
    const redemption = await redemptionOrThrow(work.db, found.id);
    const change = voucherChange('cancel', voucherStatus(redemption, work.now));
    if (change instanceof AppError) throw change;
    if (change === 'unchanged') return redemption;
    const original = await ledger.findTransaction(work.db, redemption.txn_id);
    if (!original) throw new Error(`the entry of redemption ${redemption.id} vanished`);
    const member = work.member(redemption.member_id);
    const reversal = await returnRedemption(work, member, original, { description: why ?? 'Voucher cancelled', actor: actorKey(actor) });
    work.write(repo.giveBackStock(redemption.reward_id));
    work.write(repo.cancelled(redemption.id, { at: work.now, reason: why, reversalTxnId: reversal.id }));
    forgetReward(ctx.db, redemption.reward_id);
    return { ...redemption, status: 'CANCELLED', cancelled_at: work.now, cancel_reason: why, reversal_txn_id: reversal.id };
  });
}

/** The maintenance pass's part: issued vouchers past their end become EXPIRED (their points are not given back). */
export async function expireVouchers(db: Db, now: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = await repo.expireDue(db, now, 1000);
    total += expired;
    if (expired < 1000) return total;
  }
}
