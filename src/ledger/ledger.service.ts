import { randomUUID } from 'node:crypto';
import { writeInstant, type Ctx } from '../context';
import { actorKey, requireMemberAccess, requireRole } from '../auth/guards';
import { inTransaction, withEmbeddedCount } from '../db/transaction';
import { BadInputError, ForbiddenError, InvalidStateError, NotFoundError } from '../errors';
import { isUuid } from '../members/members.rules';
import type { MemberRow } from '../members/members.repo';
import { getProgram } from '../program/program.service';
import type { ProgramView } from '../program/program.types';
import { credit, debit, expiryPolicy, lockMemberProbing, lockMembers, requireActive, settleExpiry, type LockOptions } from './ledger.core';
import { readsTierState } from '../tiers/tiers.service';
import * as repo from './ledger.repo';
import * as redemptions from './redeem.repo';
import { checkPoints, lotExpiry, requestHash } from './ledger.rules';
import { checkKey, keyRecorded, orReplay, recordKey, replay, storedResult, type IdempotencyRequest } from './idempotency';
import type { TransactionRow } from './ledger.types';

function checkText(value: string | null | undefined, field: string, { required = false, max = 500 } = {}): string | null {
  const trimmed = value?.trim() ?? '';
  if (required && trimmed === '') throw new BadInputError(`${field} is required`, field);
  if (trimmed.length > max) throw new BadInputError(`${field} must be at most ${max} characters`, field);
  return trimmed === '' ? null : trimmed;
}

async function transactionById(ctx: Ctx, id: string): Promise<TransactionRow> {
  const txn = await repo.findTransaction(ctx.db, id);
  if (!txn) throw new Error(`transaction ${id} vanished`);
  return txn;
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
 * Runs one single-member ledger operation: member lock (which also asks whether the key was
 * used), expiry settled first, then `work`, which must write its entry under the id it is
 * given. Returns the resulting transaction. The member's status is checked only for new work:
 * a retry of a request that already succeeded replays its result even if the member has been
 * suspended since. New work costs the lock, the entry's statement (which also writes the
 * member's aggregates and the idempotency record) and whatever reads `work` needs.
 */
async function memberOperation(
  ctx: Ctx,
  idempotency: MemberRequest,
  work: (tx: Ctx['db'], now: Date, member: MemberRow, id: string) => Promise<TransactionRow>,
  { active = true, reads = {} }: { active?: boolean; reads?: Pick<LockOptions, 'lots' | 'tierState'> } = {},
): Promise<TransactionRow> {
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  let fresh: TransactionRow | undefined;
  const result = await inTransaction(ctx.db, async (tx) => {
    fresh = undefined;
    const { member, probed } = await lockMemberProbing(tx, idempotency.memberId, { ...reads, active: false, now, probe: keyRecorded(idempotency) });
    if (probed) return replay<{ transactionId: string }>(tx, idempotency);
    return orReplay(tx, async () => {
      if (active) requireActive(member);
      const at = await writeInstant(ctx, member.updated_at);
      await settleExpiry(tx, member, program, at);
      const id = randomUUID();
      recordKey(tx, idempotency, { transactionId: id }, at, ctx.config.idempotencyRetentionDays);
      // `work` may end the transaction with its entry's statement (ledger.core `last`): nothing follows it.
      fresh = await work(tx, at, member, id);
      return { transactionId: id };
    }, storedResult<{ transactionId: string }>(tx, idempotency));
  }, { ahead: ctx.rateCount });
  if (fresh && fresh.id !== result.transactionId) throw new Error(`${idempotency.operation} wrote its entry under another id`);
  // A replay reads the stored entry; new work already holds it.
  return fresh ?? transactionById(ctx, result.transactionId);
}

export interface EarnInput { memberId: string; points: number; reason: string; idempotencyKey: string; qualifying?: boolean | null }

/** Credits points for a non-purchase reason (ADMIN, PARTNER); they count toward status unless `qualifying` is false. */
export async function earnPoints(ctx: Ctx, input: EarnInput): Promise<TransactionRow> {
  const actor = requireRole(ctx, 'ADMIN', 'PARTNER');
  const points = checkPoints(input.points);
  const reason = checkText(input.reason, 'reason', { required: true });
  const qualifying = input.qualifying ?? true;
  const program = await getProgram(ctx.db);
  return memberOperation(ctx, idempotencyOf(ctx, input.memberId, input.idempotencyKey, 'earnPoints', { points, reason, qualifying }), async (tx, now, member, id) => {
    return credit(tx, member, program, now, {
      id, type: 'EARN', points, qualifyingPoints: qualifying ? points : 0, description: reason,
      partnerId: actor.partnerId ?? null, actor: actorKey(actor),
    }, { last: true });
  }, { reads: { tierState: qualifying && readsTierState(program) } });
}

export interface RedeemInput { memberId: string; points: number; description?: string | null; idempotencyKey: string }

/** Spends available points, soonest-expiring lots first; never takes available below zero. */
export async function redeemPoints(ctx: Ctx, input: RedeemInput): Promise<TransactionRow> {
  const actor = requireMemberAccess(ctx, input.memberId);
  const points = checkPoints(input.points);
  const description = checkText(input.description, 'description');
  const program = await getProgram(ctx.db);
  const request = { points, description };
  const posting = { type: 'REDEEM' as const, points, description: description ?? 'Redemption', partnerId: actor.partnerId ?? null, actor: actorKey(actor) };
  const idempotency = idempotencyOf(ctx, input.memberId, input.idempotencyKey, 'redeemPoints', request);
  const atOnce = await redeemAtOnce(ctx, program, idempotency, posting);
  if (atOnce) return atOnce;
  return memberOperation(ctx, idempotency, async (tx, now, member, id) => {
    return debit(tx, member, program, now, { id, ...posting }, { mode: 'STRICT', last: true });
  }, { reads: { lots: true } });
}

/**
 * The common redemption in one statement (redeem.repo.ts), its rate-limit count inside it: no
 * transaction, one round trip. Undefined where that statement left the decision to the general
 * path, having written nothing but the count: a replay, a member who is not active, owes a
 * debt or has lots to expire, too few points, a row changed while the statement waited for its
 * lock, or a statement that failed (a racing duplicate, say), which the general path retries.
 */
async function redeemAtOnce(
  ctx: Ctx, program: ProgramView, idempotency: MemberRequest,
  posting: { points: number; description: string; partnerId: string | null; actor: string },
): Promise<TransactionRow | undefined> {
  // Under the inactivity policy a redemption moves every open lot's expiry.
  if (!ctx.config.oneStatementWrites || program.expiry_mode === 'INACTIVITY' || !isUuid(idempotency.memberId)) return undefined;
  const outcome = await withEmbeddedCount(ctx.rateCount, async (count) => redemptions.redeemAtOnce(ctx.statements, {
    ...posting, memberId: idempotency.memberId, txnId: randomUUID(), now: await ctx.now(), idempotency,
    retentionDays: ctx.config.idempotencyRetentionDays, count,
  }));
  if (!outcome) return undefined;
  if (!outcome.entry) {
    // A refused count ends the request here, before the general path costs the database more.
    await ctx.rateCount?.settled();
    return undefined;
  }
  // The request's instant moves to the entry's, as the general path's writeInstant does.
  await writeInstant(ctx, outcome.lastChange as Date);
  return outcome.entry;
}

export interface AdjustInput { memberId: string; points: number; reason: string; idempotencyKey: string }

/** A signed manual correction with a reason and the acting admin recorded (ADMIN). A debit follows the negative-balance setting. */
export async function adjustPoints(ctx: Ctx, input: AdjustInput): Promise<TransactionRow> {
  const actor = requireRole(ctx, 'ADMIN');
  const points = checkPoints(input.points, 'points', { allowNegative: true });
  const reason = checkText(input.reason, 'reason', { required: true });
  const program = await getProgram(ctx.db);
  return memberOperation(ctx, idempotencyOf(ctx, input.memberId, input.idempotencyKey, 'adjustPoints', { points, reason }), async (tx, now, member, id) => {
    if (member.status === 'CLOSED') throw new InvalidStateError('Member is closed: points cannot move');
    const posting = { id, type: 'ADJUST' as const, points: Math.abs(points), description: reason, actor: actorKey(actor) };
    return points > 0
      ? credit(tx, member, program, now, posting, { last: true })
      : debit(tx, member, program, now, posting, { mode: program.allow_negative_balance ? 'CLAWBACK' : 'STRICT', allowNegative: true, last: true });
  }, { active: false });
}

export interface TransferInput { fromMemberId: string; toMemberId: string; points: number; idempotencyKey: string }

/**
 * Moves points between two members in one transaction: the sender's debit draws lots like a
 * redemption, the receiver gets a fresh lot under the current expiry policy. Both members are
 * locked in id order, so opposite transfers cannot deadlock.
 */
export async function transferPoints(ctx: Ctx, input: TransferInput): Promise<{ from: TransactionRow; to: TransactionRow }> {
  const actor = requireMemberAccess(ctx, input.fromMemberId, ['ADMIN', 'MEMBER']);
  const points = checkPoints(input.points);
  if (input.fromMemberId === input.toMemberId) throw new BadInputError('A member cannot transfer to itself', 'toMemberId');
  if (!isUuid(input.toMemberId)) throw new NotFoundError('Member');
  const program = await getProgram(ctx.db);
  const now = await ctx.now();
  const hash = requestHash({ operation: 'transferPoints', ...input, idempotencyKey: undefined, points });
  const idempotency: IdempotencyRequest = { scope: actorKey(actor), key: input.idempotencyKey, operation: 'transferPoints', hash, memberId: input.fromMemberId };
  checkKey(idempotency);
  let fresh: { from: TransactionRow; to: TransactionRow } | undefined;
  const result = await inTransaction(ctx.db, async (tx) => {
    fresh = undefined;
    const { locked, probed } = await lockMembers(tx, [input.fromMemberId, input.toMemberId], { active: false, now, probe: keyRecorded(idempotency), lots: true });
    if (probed) return replay<{ fromId: string; toId: string }>(tx, idempotency);
    return orReplay(tx, async () => {
      const sender = locked.get(input.fromMemberId)!;
      const receiver = locked.get(input.toMemberId)!;
      // Checked for new work only, so a retry of a finished transfer still replays.
      requireActive(sender);
      requireActive(receiver);
      const at = await writeInstant(ctx, new Date(Math.max(sender.updated_at.getTime(), receiver.updated_at.getTime())));
      await settleExpiry(tx, sender, program, at);
      await settleExpiry(tx, receiver, program, at);
      const ids = { fromId: randomUUID(), toId: randomUUID() };
      recordKey(tx, idempotency, ids, at, ctx.config.idempotencyRetentionDays);
      const out = await debit(tx, sender, program, at, {
        id: ids.fromId, type: 'TRANSFER_OUT', points, description: `Transfer to ${receiver.external_id}`, actor: actorKey(actor),
        relatedId: ids.toId,
      }, { mode: 'STRICT' });
      const into = await credit(tx, receiver, program, at, {
        id: ids.toId, type: 'TRANSFER_IN', points, description: `Transfer from ${sender.external_id}`, actor: actorKey(actor), relatedId: out.id,
      }, { last: true });
      fresh = { from: out, to: into };
      return ids;
    }, storedResult<{ fromId: string; toId: string }>(tx, idempotency));
  }, { ahead: ctx.rateCount });
  // New work already holds both entries; a replay reads the stored ones.
  return fresh ?? { from: await transactionById(ctx, result.fromId), to: await transactionById(ctx, result.toId) };
}

export interface ReverseInput { transactionId: string; reason?: string | null; idempotencyKey: string }

/**
 * Undoes a redemption. Each lot it drew from comes back as a new lot with that lot's original
 * expiry (under INACTIVITY, the member's shared one), or a fresh policy expiry where that has
 * passed. Once only.
 */
export async function reverseRedemption(ctx: Ctx, input: ReverseInput): Promise<TransactionRow> {
  const actor = requireRole(ctx, 'ADMIN', 'PARTNER');
  const original = isUuid(input.transactionId) ? await repo.findTransaction(ctx.db, input.transactionId) : undefined;
  if (!original || original.type !== 'REDEEM') throw new NotFoundError('Redemption');
  if (actor.role === 'PARTNER' && original.partner_id !== actor.partnerId) throw new ForbiddenError('A partner may reverse only its own redemptions');
  const reason = checkText(input.reason, 'reason');
  const program = await getProgram(ctx.db);
  return memberOperation(ctx, idempotencyOf(ctx, original.member_id, input.idempotencyKey, 'reverseRedemption', { transactionId: original.id, reason }), async (tx, now, member, id) => {
    if (member.status === 'CLOSED') throw new InvalidStateError('Member is closed: points cannot move');
    const already = await tx.selectFrom('points_transactions').select('id')
      .where('member_id', '=', member.id).where('type', '=', 'REVERSAL').where('related_id', '=', original.id).executeTakeFirst();
    if (already) throw new InvalidStateError('This redemption was already reversed');
    const policy = expiryPolicy(program);
    // Under INACTIVITY every open lot shares one expiry (last activity + months), while a lot
    // drawn empty kept the expiry it had then: the returned points join the member's clock.
    const shared = lotExpiry(policy, now, member.last_activity_at ?? now);
    const passed = (date: Date | null) => date !== null && date.getTime() <= now.getTime();
    const lots = (await repo.allocationsOf(tx, original.id)).map((draw) => {
      const kept = policy.mode === 'INACTIVITY' ? shared : draw.expires_at;
      return { points: draw.points, expiresAt: passed(kept) ? lotExpiry(policy, now, now) : kept };
    });
    if (lots.length === 0) throw new InvalidStateError('This redemption drew no points');
    return credit(tx, member, program, now, {
      id, type: 'REVERSAL', points: -original.points, description: reason ?? 'Redemption reversed',
      actor: actorKey(actor), relatedId: original.id, partnerId: original.partner_id,
    }, { lots, last: true });
  }, { active: false });
}
