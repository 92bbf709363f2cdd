/** The SQL of the rewards catalogue and its vouchers. */
import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database';
import { newestFirst } from '../db/pages';
import type { RedemptionStatus, RedemptionTable, RewardTable } from '../db/schema';
import type { CountedPage } from '../graphql/pagination';
import type { RowWrite } from '../ledger/unit-of-work';
import type { RewardTerms } from './rewards.rules';

export type RewardRow = Selectable<RewardTable>;
export type RedemptionRow = Selectable<RedemptionTable>;
export type RewardPageView = CountedPage<RewardRow>;
export type RedemptionPageView = CountedPage<RedemptionRow>;

export async function insertReward(db: Db, row: RewardTerms & { id: string; created_at: Date; updated_at: Date }): Promise<RewardRow> {
  return db.insertInto('rewards').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Replaces a reward's terms; undefined when there is no such reward. A stock below the vouchers issued fails its check. */
export async function updateReward(db: Db, id: string, terms: RewardTerms, at: Date): Promise<RewardRow | undefined> {
  return db.updateTable('rewards').set({ ...terms, updated_at: at }).where('id', '=', id).returningAll().executeTakeFirst();
}

export async function findReward(db: Db, id: string): Promise<RewardRow | undefined> {
  return db.selectFrom('rewards').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findRewards(db: Db, ids: readonly string[]): Promise<RewardRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('rewards').selectAll().where('id', 'in', ids).execute();
}

export interface RewardFilter {
  /** Only rewards on offer at this instant (active, within their window). */
  onOfferAt?: Date;
  /** Only rewards for `memberId` can redeem now, with `available` points at tier rank `tierRank` (null: none). */
  redeemableBy?: { memberId: string; available: number; tierRank: number | null };
}

/**
 * A page of the catalogue, cheapest first (then by id), after `after` (a cost and an id), limit
 * + 1 rows; the total is counted only when asked.
 */
export function listRewards(db: Db, filter: RewardFilter, limit: number, after: [number, string] | undefined) {
  let query = db.selectFrom('rewards as r');
  if (filter.onOfferAt) {
    const at = filter.onOfferAt;
    query = query.where('r.active', '=', true)
      .where((eb) => eb.or([eb('r.valid_from', 'is', null), eb('r.valid_from', '<=', at)]))
      .where((eb) => eb.or([eb('r.valid_until', 'is', null), eb('r.valid_until', '>', at)]));
  }
  if (filter.redeemableBy) {
    const { memberId, available, tierRank } = filter.redeemableBy;
    query = query.where('r.points_cost', '<=', available)
      .where((eb) => eb.or([eb('r.stock', 'is', null), eb('r.issued', '<', eb.ref('r.stock'))]))
      .where((eb) => (tierRank === null ? eb('r.min_tier_rank', 'is', null) : eb.or([eb('r.min_tier_rank', 'is', null), eb('r.min_tier_rank', '<=', tierRank)])))
      .where((eb) => eb.or([
        eb('r.per_member_limit', 'is', null),
        eb('r.per_member_limit', '>', eb.selectFrom('redemptions as h').select((c) => c.fn.countAll<number>().as('n'))
          .where('h.member_id', '=', memberId).whereRef('h.reward_id', '=', 'r.id').where('h.status', '<>', 'CANCELLED')),
      ]));
  }
  return {
    page: () => {
      let page = query.selectAll('r');
      if (after) {
        const [cost, id] = after;
        page = page.where((eb) => eb.or([eb('r.points_cost', '>', cost), eb.and([eb('r.points_cost', '=', cost), eb('r.id', '>', id)])]));
      }
      return page.orderBy('r.points_cost').orderBy('r.id').limit(limit + 1).execute();
    },
    count: async () => Number((await query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n),
  };
}

/** The member's vouchers of the reward that are not cancelled: what its per-member limit counts. */
export async function heldBy(db: Db, memberId: string, rewardId: string): Promise<number> {
  const row = await db.selectFrom('redemptions').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('member_id', '=', memberId).where('reward_id', '=', rewardId).where('status', '<>', 'CANCELLED')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findRedemption(db: Db, id: string): Promise<RedemptionRow | undefined> {
  return db.selectFrom('redemptions').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findRedemptionByCode(db: Db, voucherCode: string): Promise<RedemptionRow | undefined> {
  return db.selectFrom('redemptions').selectAll().where('voucher_code', '=', voucherCode).executeTakeFirst();
}


/**
 * A page of a member's vouchers, newest first, after `after` (a creation instant and an id), limit
 * + 1 rows; with `partnerId`, only those that partner redeemed or whose reward it fulfils
 * (rewards.rules seesVoucher).
 */
export function listRedemptions(
  db: Db, memberId: string, o: { status: RedemptionStatus | null; partnerId: string | null }, limit: number, after: [Date, string] | undefined,
) {
  let query = db.selectFrom('redemptions').where('member_id', '=', memberId);
  if (o.status) query = query.where('status', '=', o.status);
  const partnerId = o.partnerId;
  if (partnerId !== null) {
    query = query.where((eb) => eb.or([
      eb('partner_id', '=', partnerId),
      eb.exists(eb.selectFrom('rewards').select('rewards.id').whereRef('rewards.id', '=', 'redemptions.reward_id').where('rewards.partner_id', '=', partnerId)),
    ]));
  }
  return {
    page: () => newestFirst(query.selectAll(), limit, after),
    count: async () => Number((await query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n),
  };
}

/** Marks an issued voucher within its end used; undefined when it is not (any more). */
export async function markUsed(db: Db, id: string, at: Date): Promise<RedemptionRow | undefined> {
  return db.updateTable('redemptions').set({ status: 'USED', used_at: at })
    .where('id', '=', id).where('status', '=', 'ISSUED')
    .where((eb) => eb.or([eb('valid_until', 'is', null), eb('valid_until', '>', at)]))
    .returningAll().executeTakeFirst();
}

/**
 * Marks up to `batch` issued vouchers whose end has passed at `now` EXPIRED and answers how many.
 * Vouchers another instance is expiring at the same time are skipped, not waited for.
 */
export async function expireDue(db: Db, now: Date, batch: number): Promise<number> {
  const result = await db.updateTable('redemptions').set({ status: 'EXPIRED', expired_at: now })
    .where('id', 'in', (eb) => eb.selectFrom('redemptions').select('id')
      .where('status', '=', 'ISSUED').where('valid_until', 'is not', null).where('valid_until', '<=', now)
      .limit(batch).forUpdate().skipLocked())
    .where('status', '=', 'ISSUED')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

// What a unit of work writes for a voucher (ledger/unit-of-work.ts).

export function insertRedemption(row: Insertable<RedemptionTable>): RowWrite {
  return { insert: 'redemptions', rows: [row] };
}

/** Takes one unit of the reward's stock; the unit is refused OUT_OF_STOCK when none is left. */
export function takeStock(rewardId: string): RowWrite {
  return { count: 'rewards', column: 'issued', by: 1, cap: 'stock', where: { id: rewardId }, orElse: { code: 'OUT_OF_STOCK', message: 'This reward is out of stock' } };
}

export function giveBackStock(rewardId: string): RowWrite {
  return { count: 'rewards', column: 'issued', by: -1, where: { id: rewardId }, orElse: { code: 'INVALID_STATE', message: 'This reward has no voucher to give back' } };
}

/**
 * Cancels a voucher only if it is still ISSUED when the unit writes: one marked used or expired
 * meanwhile refuses the whole cancel, its points and stock with it.
 */
export function cancelled(id: string, o: { at: Date; reason: string | null; reversalTxnId: string }): RowWrite {
  return {
    update: 'redemptions', set: { status: 'CANCELLED', cancelled_at: o.at, cancel_reason: o.reason, reversal_txn_id: o.reversalTxnId },
    where: { id, status: 'ISSUED' }, orElse: { code: 'INVALID_STATE', message: 'This voucher was used or expired meanwhile: it cannot be cancelled' },
  };
}
