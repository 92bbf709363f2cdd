/**
 * Referrals: a member enrolled with another member's referral code is that member's referee.
 * The referral is written with the referee (recordReferral), decided at the referee's first
 * purchase inside the purchase's unit of work (referralAtPurchase, rewardReferral), and reversed
 * by a full refund of that purchase inside the refund's unit (reverseAtRefund). Both units hold
 * the referrer as well as the referee, so the referrer's row version (or lock) vouches for its
 * count of placed referrals: that is what keeps the cap under concurrency.
 */
import type DataLoader from 'dataloader';
import { randomUUID } from 'node:crypto';
import { limitedView } from '../auth/guards';
import type { Ctx } from '../context';
import { sharedLoader } from '../db/batch';
import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import { BadInputError } from '../errors';
import { credit, debit } from '../ledger/ledger.core';
import { creditRoom } from '../ledger/ledger.rules';
import type { TransactionRow } from '../ledger/ledger.types';
import type { StatusRules, UnitOfWork } from '../ledger/unit-of-work';
import * as repo from './referrals.repo';
import { onFirstPurchase, onRefund, referralSettings, selfReferral } from './referrals.rules';

export type { PendingReferral } from './referrals.repo';

/** A referral with its referee, as Member.referrals answers it. */
export type ReferralView = repo.ReferralRow & { referee: MemberRow };

/** The event the referrer is sent when a referral is rewarded (earning rules may trigger on it). */
export const REFERRAL_EVENT = 'referral';

/**
 * Thrown inside a unit of work that finds a referral to decide or reverse whose referrer is not
 * one of the unit's members. It writes nothing; the caller runs the unit again with the referrer
 * (withReferrer).
 */
export class ReferrerNeeded extends Error {
  constructor(readonly referrerId: string) {
    super('this unit of work needs the referrer as one of its members');
  }
}

/**
 * Runs `attempt` on `members`, and once more with the referrer added when the first attempt
 * found it needs one (ReferrerNeeded). Members without a referral to decide run once.
 */
export async function withReferrer<R>(members: readonly string[], attempt: (members: readonly string[]) => Promise<R>): Promise<R> {
  try {
    return await attempt(members);
  } catch (error) {
    if (!(error instanceof ReferrerNeeded) || members.includes(error.referrerId)) throw error;
    return attempt([...members, error.referrerId]);
  }
}

// Attribution, at enrolment.

/** BAD_USER_INPUT (field referralCode) when the code's owner may not refer a new member with `email`. */
export function checkReferrer(referrer: MemberRow, email: string | null): void {
  const refusal = selfReferral(referrer.email, email);
  if (refusal) throw new BadInputError(refusal, 'referralCode');
}

/** Writes the referral of a member just enrolled, on the enrolment's own transaction `tx`. */
export async function recordReferral(tx: Db, referrerId: string, refereeId: string, at: Date): Promise<void> {
  await repo.insertReferral(tx, { id: randomUUID(), referrer_id: referrerId, referee_id: refereeId, status: 'PENDING', created_at: at });
}

// The first purchase.

const PENDING_KEY = 'referral.pending';

/**
 * `status` with one more read taken with the member: its pending referral, if any. A member who
 * was never referred, or whose referral was decided, reads null there and costs nothing more.
 */
export function withPendingReferral(status: StatusRules): StatusRules {
  return { ...status, reads: (program, now) => [...status.reads(program, now), { key: PENDING_KEY, sql: repo.PENDING_REFERRAL_READ }] };
}

/**
 * The member's pending referral as the unit sees it (read with the member where it could be,
 * asked now otherwise), or null. Throws ReferrerNeeded when the referrer is not in the unit: the
 * referral can be decided only where the referrer's row guards its count.
 */
export async function referralAtPurchase(work: UnitOfWork, referee: MemberRow): Promise<repo.PendingReferral | null> {
  if (referee.referred_by === null) return null;
  const known = work.known<repo.PendingReferral | null>(referee.id, PENDING_KEY);
  const pending = known !== undefined ? known : ((await repo.pendingOf(work.db, referee.id)) ?? null);
  if (pending && !work.members.has(pending.referrerId)) throw new ReferrerNeeded(pending.referrerId);
  return pending;
}

/** What rewardReferral decided, for what follows the unit (the referrer's event). */
export interface DecidedReferral {
  id: string;
  referrerId: string;
  status: 'REWARDED' | 'CAPPED';
  /** Whether the referrer may earn: only then is it sent the referral event. */
  referrerActive: boolean;
}

/**
 * Decides `pending` at the referee's first purchase, `orderId` (referrals.rules onFirstPurchase)
 * and plans it in the purchase's unit: both BONUS credits, available when the purchase's own
 * points are, and the referral's new status, written only if it is still PENDING.
 */
export async function rewardReferral(
  work: UnitOfWork, referee: MemberRow, pending: repo.PendingReferral, purchase: { orderId: string; availableAt: Date },
): Promise<DecidedReferral | null> {
  const referrer = work.member(pending.referrerId);
  const referrerActive = referrer.status === 'ACTIVE';
  const decision = onFirstPurchase({
    status: 'PENDING', settings: referralSettings(work.program), placed: await repo.placedCount(work.db, referrer.id),
    referrerActive, referrerRoom: creditRoom(referrer.lifetime_earned), refereeRoom: creditRoom(referee.lifetime_earned),
  });
  if (!decision) return null;
  const bonus = (member: MemberRow, points: number, description: string): Promise<TransactionRow> | null => (points > 0
    ? credit(work, member, { type: 'BONUS', points, qualifyingPoints: 0, description, actor: 'system' }, { availableAt: purchase.availableAt })
    : null);
  const refereeTxn = await bonus(referee, decision.refereePoints, `Referral bonus: welcome (referral ${pending.id})`);
  const referrerTxn = await bonus(referrer, decision.referrerPoints, `Referral bonus: a referred member's first purchase (referral ${pending.id})`);
  work.write(repo.decide(pending.id, {
    status: decision.status, order_id: purchase.orderId, decided_at: work.now,
    referrer_points: decision.referrerPoints, referee_points: decision.refereePoints,
    referrer_txn_id: referrerTxn?.id ?? null, referee_txn_id: refereeTxn?.id ?? null,
  }));
  if (decision.status === 'REWARDED') {
    work.emit('referral.rewarded', referrer.id, {
      referralId: pending.id, refereeId: referee.id, orderId: purchase.orderId,
      referrerPoints: decision.referrerPoints, refereePoints: decision.refereePoints,
    });
  }
  return { id: pending.id, referrerId: referrer.id, status: decision.status, referrerActive };
}

// The refund.

/**
 * Inside a refund's unit, after the refund itself: when the refund leaves nothing of `orderId`
 * to refund and that order rewarded a referral, takes both bonuses back (REFUND debits in the
 * ledger's clawback mode, from the bonus's own lot first while it is still pending) and marks the
 * referral REVERSED. A partial refund changes nothing. Throws ReferrerNeeded when the referrer is
 * not in the unit.
 */
export async function reverseAtRefund(
  work: UnitOfWork, refund: { orderId: string; refundId: string; fullyRefunded: boolean; actor: string },
): Promise<boolean> {
  if (!refund.fullyRefunded) return false;
  const referral = await repo.rewardedByOrder(work.db, refund.orderId);
  if (!referral) return false;
  if (!work.members.has(referral.referrer_id)) throw new ReferrerNeeded(referral.referrer_id);
  if (onRefund({ status: referral.status, decidingOrder: referral.order_id === refund.orderId, fullyRefunded: true }) !== 'REVERSED') return false;
  const sides: [string, number, string | null][] = [
    [referral.referee_id, referral.referee_points, referral.referee_txn_id],
    [referral.referrer_id, referral.referrer_points, referral.referrer_txn_id],
  ];
  for (const [memberId, points, txnId] of sides) {
    if (points <= 0 || !txnId) continue;
    const lot = await repo.lotOfEntry(work.db, txnId);
    const pendingLot = lot && lot.available_at.getTime() > work.now.getTime() && lot.remaining > 0
      ? [{ id: lot.id, remaining: lot.remaining, expiresAt: lot.expires_at, earnedAt: lot.earned_at }]
      : [];
    await debit(work, work.member(memberId), {
      type: 'REFUND', points, qualifyingPoints: 0, relatedId: txnId, actor: refund.actor,
      description: `Referral bonus taken back: refund ${refund.refundId} of ${refund.orderId} (referral ${referral.id})`,
    }, { mode: 'CLAWBACK', allowNegative: work.program.allow_negative_balance, preferLots: pendingLot });
  }
  work.write(repo.reverse(referral.id, work.now));
  return true;
}

// Reading.

const loaders = new WeakMap<Db, DataLoader<string, ReferralView[]>>();

/** The referrals of many referrers, read together (a page of members asking for theirs costs two statements). */
function referralReads(db: Db): DataLoader<string, ReferralView[]> {
  let loader = loaders.get(db);
  if (!loader) {
    loader = sharedLoader(async (referrerIds: readonly string[]) => {
      const rows = await repo.referralsOf(db, referrerIds);
      const referees = new Map((await repo.membersByIds(db, [...new Set(rows.map((r) => r.referee_id))])).map((m) => [m.id, m]));
      return referrerIds.map((id) => rows.filter((r) => r.referrer_id === id).map((r) => ({ ...r, referee: referees.get(r.referee_id) as MemberRow })));
    });
    loaders.set(db, loader);
  }
  return loader;
}

/**
 * The member's referrals, oldest first. To a MEMBER caller each referee is a limited view
 * (auth/guards.ts limitedView): its id, status and enrolment date, personal data cleared, and
 * every other field FORBIDDEN; nor does it see the referee's order number.
 */
export async function referralsOf(ctx: Ctx, member: MemberRow): Promise<ReferralView[]> {
  const referrals = await referralReads(ctx.db).load(member.id);
  return ctx.actor?.role === 'MEMBER' ? referrals.map((r) => ({ ...r, order_id: null, referee: refereeView(r.referee) })) : referrals;
}

function refereeView(member: MemberRow): MemberRow {
  return limitedView({ ...member, email: null, name: null, birth_date: null, phone: null, locale: null, tags: [], external_id: '', referral_code: '' });
}
