import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import { actorKey, requireActor, requireMemberAccess } from '../auth/guards';
import { BadInputError, ForbiddenError, InvalidStateError, NotFoundError } from '../errors';
import { isUuid } from '../db/ids';
import { credit, debit, returnRedemption } from '../ledger/ledger.core';
import { byKey, checkKey, type IdempotencyRequest } from '../ledger/idempotency';
import * as ledger from '../ledger/ledger.repo';
import { checkPoints, requestHash } from '../ledger/ledger.rules';
import type { TransactionRow } from '../ledger/ledger.types';
import { runUnit, type UnitOfWork, type UnitSpec } from '../ledger/unit-of-work';
import { tierStatusRules } from '../tiers/tiers.service';
import { paidForVoucher } from './points.repo';

function checkText(value: string | null | undefined, field: string, { required = false, max = 500 } = {}): string | null {
  const trimmed = value?.trim() ?? '';
  if (required && trimmed === '') throw new BadInputError(`${field} is required`, field);
  if (trimmed.length > max) throw new BadInputError(`${field} must be at most ${max} characters`, field);
  return trimmed === '' ? null : trimmed;
}

/** An idempotency record-to-be for one member's operation. */
type MemberRequest = IdempotencyRequest & { memberId: string };

/** The request's idempotency record-to-be, once the caller may act for the member and the key is well formed. */
function idempotencyOf(ctx: Ctx, memberId: string, key: string, operation: string, request: unknown): MemberRequest {
  const actor = requireMemberAccess(ctx, memberId);
  const idempotency: MemberRequest = { scope: actorKey(actor), key, operation, hash: requestHash({ operation, memberId, request }), memberId };
  checkKey(idempotency);
  return idempotency;
}

/**
 * One member's points operation, idempotent by key: a unit of work (ledger/unit-of-work.ts)
 * whose outcome is the entry it writes; a retry of a request already done answers with that
 * entry, even if the member has been suspended since.
 */
function memberOperation(
  ctx: Ctx, idempotency: MemberRequest, spec: Omit<UnitSpec<TransactionRow>, 'members' | 'status' | 'replay'>,
  operation: (work: UnitOfWork) => Promise<TransactionRow>,
): Promise<TransactionRow> {
  return runUnit(ctx, {
    ...spec, members: [idempotency.memberId], status: tierStatusRules,
    replay: byKey(idempotency, ctx.config.idempotencyRetentionDays, {
      store: (entry: TransactionRow) => ({ transactionId: entry.id }),
      load: async (db, stored: { transactionId: string }) => {
        const entry = await ledger.findTransaction(db, stored.transactionId);
        if (!entry) throw new Error(`transaction ${stored.transactionId} vanished`);
        return entry;
      },
    }),
  }, operation);
}

export interface EarnInput { memberId: string; points: number; reason: string; idempotencyKey: string; qualifying?: boolean | null }

/** Credits points for a non-purchase reason (ADMIN, PARTNER); they count toward status unless `qualifying` is false. */
export async function earnPoints(ctx: Ctx, input: EarnInput): Promise<TransactionRow> {
  const actor = requireActor(ctx);
  const points = checkPoints(input.points);
  const reason = checkText(input.reason, 'reason', { required: true });
  const qualifying = input.qualifying ?? true;
  const idempotency = idempotencyOf(ctx, input.memberId, input.idempotencyKey, 'earnPoints', { points, reason, qualifying });
  return memberOperation(ctx, idempotency, { qualifying }, (work) => credit(work, work.member(input.memberId), {
    type: 'EARN', points, qualifyingPoints: qualifying ? points : 0, description: reason,
    partnerId: actor.partnerId ?? null, actor: actorKey(actor),
  }));
}

export interface RedeemInput { memberId: string; points: number; description?: string | null; idempotencyKey: string }

/** Spends available points, soonest-expiring lots first; never takes available below zero. */
export async function redeemPoints(ctx: Ctx, input: RedeemInput): Promise<TransactionRow> {
  const actor = requireMemberAccess(ctx, input.memberId);
  const points = checkPoints(input.points);
  const description = checkText(input.description, 'description');
  const idempotency = idempotencyOf(ctx, input.memberId, input.idempotencyKey, 'redeemPoints', { points, description });
  return memberOperation(ctx, idempotency, { lots: true }, (work) => debit(work, work.member(input.memberId), {
    type: 'REDEEM', points, description: description ?? 'Redemption', partnerId: actor.partnerId ?? null, actor: actorKey(actor),
  }, { mode: 'STRICT' }));
}

export interface AdjustInput { memberId: string; points: number; reason: string; idempotencyKey: string }

/** A signed manual correction with a reason and the acting admin recorded (ADMIN). A debit follows the negative-balance setting. */
export async function adjustPoints(ctx: Ctx, input: AdjustInput): Promise<TransactionRow> {
  const actor = requireActor(ctx);
  const points = checkPoints(input.points, 'points', { allowNegative: true });
  const reason = checkText(input.reason, 'reason', { required: true });
  const idempotency = idempotencyOf(ctx, input.memberId, input.idempotencyKey, 'adjustPoints', { points, reason });
  return memberOperation(ctx, idempotency, { active: false, lots: points < 0 }, async (work) => {
    const member = work.member(input.memberId);
    if (member.status === 'CLOSED') throw new InvalidStateError('Member is closed: points cannot move');
    const posting = { type: 'ADJUST' as const, points: Math.abs(points), description: reason, actor: actorKey(actor) };
    return points > 0
      ? credit(work, member, posting)
      : debit(work, member, posting, { mode: work.program.allow_negative_balance ? 'CLAWBACK' : 'STRICT', allowNegative: true });
  });
}

export interface TransferInput { fromMemberId: string; toMemberId: string; points: number; idempotencyKey: string }

/**
 * Moves points between two members in one unit of work: the sender's debit draws lots like a
 * redemption, the receiver gets a fresh lot under the current expiry policy.
 */
export async function transferPoints(ctx: Ctx, input: TransferInput): Promise<{ from: TransactionRow; to: TransactionRow }> {
  const actor = requireMemberAccess(ctx, input.fromMemberId);
  const points = checkPoints(input.points);
  // Ids are compared as the database compares uuids: in either case.
  if (input.fromMemberId.toLowerCase() === input.toMemberId.toLowerCase()) throw new BadInputError('A member cannot transfer to itself', 'toMemberId');
  const hash = requestHash({ operation: 'transferPoints', ...input, idempotencyKey: undefined, points });
  const idempotency: IdempotencyRequest = { scope: actorKey(actor), key: input.idempotencyKey, operation: 'transferPoints', hash, memberId: input.fromMemberId };
  checkKey(idempotency);
  type Transfer = { from: TransactionRow; to: TransactionRow };
  return runUnit<Transfer>(ctx, {
    members: [input.fromMemberId, input.toMemberId], status: tierStatusRules, lots: true,
    replay: byKey(idempotency, ctx.config.idempotencyRetentionDays, {
      store: (t: Transfer) => ({ fromId: t.from.id, toId: t.to.id }),
      load: async (db, stored: { fromId: string; toId: string }) => {
        const [from, to] = await Promise.all([ledger.findTransaction(db, stored.fromId), ledger.findTransaction(db, stored.toId)]);
        if (!from || !to) throw new Error('a transfer\'s entries vanished');
        return { from, to };
      },
    }),
  }, async (work) => {
    const sender = work.member(input.fromMemberId);
    const receiver = work.member(input.toMemberId);
    const toId = randomUUID();
    const out = await debit(work, sender, {
      type: 'TRANSFER_OUT', points, description: `Transfer to ${receiver.external_id}`, actor: actorKey(actor), relatedId: toId,
    }, { mode: 'STRICT' });
    const into = await credit(work, receiver, {
      id: toId, type: 'TRANSFER_IN', points, description: `Transfer from ${sender.external_id}`, actor: actorKey(actor), relatedId: out.id,
    });
    return { from: out, to: into };
  });
}

export interface ReverseInput { transactionId: string; reason?: string | null; idempotencyKey: string }

/**
 * Undoes a redemption. Each lot it drew from comes back as a new lot with that lot's original
 * expiry (under INACTIVITY, the member's shared one), or a fresh policy expiry where that has
 * passed. Once only.
 */
export async function reverseRedemption(ctx: Ctx, input: ReverseInput): Promise<TransactionRow> {
  const actor = requireActor(ctx);
  const original = isUuid(input.transactionId) ? await ledger.findTransaction(ctx.db, input.transactionId) : undefined;
  if (!original || original.type !== 'REDEEM') throw new NotFoundError('Redemption');
  if (actor.role === 'PARTNER' && original.partner_id !== actor.partnerId) throw new ForbiddenError('A partner may reverse only its own redemptions');
  if (await paidForVoucher(ctx.db, original.id)) throw new InvalidStateError('This redemption paid for a voucher: cancelling the voucher (cancelRedemption) gives its points back');
  const reason = checkText(input.reason, 'reason');
  const idempotency = idempotencyOf(ctx, original.member_id, input.idempotencyKey, 'reverseRedemption', { transactionId: original.id, reason });
  return memberOperation(ctx, idempotency, { active: false }, (work) =>
    returnRedemption(work, work.member(original.member_id), original, { description: reason ?? 'Redemption reversed', actor: actorKey(actor) }));
}
