import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import type { ReferralStatus, ReferralTable } from '../db/schema';
import type { SqlText } from '../db/sql-text';
import type { RowWrite } from '../ledger/unit-of-work';
import { PLACED_STATUSES } from './referrals.rules';

export type ReferralRow = Selectable<ReferralTable>;

/** A pending referral as the unit of work's member read gives it: its id and the referrer's. */
export interface PendingReferral { id: string; referrerId: string }

/**
 * The member's pending referral, if any, read with the member (an ExtraRead over `m`). The member
 * row says whether the member was referred at all, so a member who was not costs no lookup.
 */
export const PENDING_REFERRAL_READ: SqlText = {
  text: `case when m.referred_by is null then null else (select json_build_object('id', r.id, 'referrerId', r.referrer_id)
    from referrals r where r.referee_id = m.id and r.status = 'PENDING') end`,
  values: [],
};

export async function insertReferral(db: Db, row: Insertable<ReferralTable>): Promise<void> {
  await db.insertInto('referrals').values(row).execute();
}

/** The member's pending referral, as PENDING_REFERRAL_READ gives it. */
export async function pendingOf(db: Db, refereeId: string): Promise<PendingReferral | undefined> {
  const row = await db.selectFrom('referrals').select(['id', 'referrer_id']).where('referee_id', '=', refereeId).where('status', '=', 'PENDING')
    .executeTakeFirst();
  return row && { id: row.id, referrerId: row.referrer_id };
}

/** How many of the referrer's referrals hold a place under the cap. */
export async function placedCount(db: Db, referrerId: string): Promise<number> {
  const row = await db.selectFrom('referrals').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('referrer_id', '=', referrerId).where('status', 'in', PLACED_STATUSES as ReferralStatus[])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The rewarded referral that `orderId` decided, if any (a refund of it may reverse it). */
export async function rewardedByOrder(db: Db, orderId: string): Promise<ReferralRow | undefined> {
  return db.selectFrom('referrals').selectAll().where('order_id', '=', orderId).where('status', '=', 'REWARDED').executeTakeFirst();
}

/** The referrals of these referrers, oldest first. */
export async function referralsOf(db: Db, referrerIds: readonly string[]): Promise<ReferralRow[]> {
  return db.selectFrom('referrals').selectAll().where('referrer_id', 'in', referrerIds as string[])
    .orderBy('created_at').orderBy('id').execute();
}

export async function membersByIds(db: Db, ids: readonly string[]): Promise<MemberRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('members').selectAll().where('id', 'in', ids as string[]).execute();
}

/** The lot a credit made, with what is left of it (a bonus's own lot, for its clawback). */
export async function lotOfEntry(db: Db, txnId: string) {
  return db.selectFrom('point_lots').select(['id', 'remaining', 'available_at', 'expires_at', 'earned_at']).where('txn_id', '=', txnId)
    .executeTakeFirst();
}

/** The referral decided at the referee's first purchase; written only while it is still PENDING. */
export function decide(id: string, set: {
  status: 'REWARDED' | 'CAPPED'; order_id: string; decided_at: Date;
  referrer_points: number; referee_points: number; referrer_txn_id: string | null; referee_txn_id: string | null;
}): RowWrite {
  return { update: 'referrals', set, where: { id, status: 'PENDING' } };
}

/** The referral reversed by a full refund of its first purchase; written only while it is REWARDED. */
export function reverse(id: string, at: Date): RowWrite {
  return { update: 'referrals', set: { status: 'REVERSED', reversed_at: at }, where: { id, status: 'REWARDED' } };
}
