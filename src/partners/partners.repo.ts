import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
import type { Db } from '../db/database';
import type { PartnerTable } from '../db/schema';
import type { SettlementTotals } from './partners.rules';

export type PartnerRow = Selectable<PartnerTable>;

/** What a request carrying a PARTNER token needs to know of its partner. */
export type PartnerAccessRow = Pick<PartnerRow, 'partner_id' | 'active' | 'earn_rate'>;

export async function insertPartner(db: Db, row: Insertable<PartnerTable>): Promise<PartnerRow> {
  return db.insertInto('partners').values(row).returningAll().executeTakeFirstOrThrow();
}

/** The partner whose id equals `partnerId` in any case, if one is registered. */
export async function findPartnerAnyCase(db: Db, partnerId: string): Promise<PartnerRow | undefined> {
  return db.selectFrom('partners').selectAll().where(sql<string>`lower(partner_id)`, '=', partnerId.toLowerCase()).executeTakeFirst();
}

export async function findPartner(db: Db, partnerId: string): Promise<PartnerRow | undefined> {
  return db.selectFrom('partners').selectAll().where('partner_id', '=', partnerId).executeTakeFirst();
}

export async function partnerAccess(db: Db, partnerId: string): Promise<PartnerAccessRow | undefined> {
  return db.selectFrom('partners').select(['partner_id', 'active', 'earn_rate']).where('partner_id', '=', partnerId).executeTakeFirst();
}

export async function listPartners(db: Db): Promise<PartnerRow[]> {
  return db.selectFrom('partners').selectAll().orderBy('partner_id').execute();
}

export async function updatePartner(db: Db, partnerId: string, patch: Updateable<PartnerTable>): Promise<PartnerRow | undefined> {
  return db.updateTable('partners').set(patch).where('partner_id', '=', partnerId).returningAll().executeTakeFirst();
}

/** Replaces the secret hash when it is still `expected`; undefined when another rotation came first. */
export async function rotateSecret(db: Db, partnerId: string, expected: string, patch: Updateable<PartnerTable>): Promise<PartnerRow | undefined> {
  return db.updateTable('partners').set(patch).where('partner_id', '=', partnerId).where('secret_hash', '=', expected).returningAll().executeTakeFirst();
}

/**
 * A partner's ledger entries written in [from, to), summed by kind. Cancelled entries count for
 * nothing, as in the balance (ledger/verify.repo.ts).
 */
export async function settlementTotals(db: Db, partnerId: string, from: Date, to: Date): Promise<SettlementTotals> {
  const row = await db.selectFrom('points_transactions')
    .select([
      sql<string>`coalesce(sum(points) filter (where type in ('PURCHASE', 'EARN', 'BONUS') and points > 0), 0)`.as('issued'),
      sql<string>`coalesce(sum(-points) filter (where type = 'REDEEM'), 0)`.as('redeemed'),
      sql<string>`coalesce(sum(points) filter (where type = 'REVERSAL'), 0)`.as('reversed'),
      sql<string>`coalesce(sum(-points) filter (where type = 'REFUND'), 0)`.as('clawed_back'),
      sql<string>`count(*) filter (where type = 'PURCHASE')`.as('purchases'),
      sql<string>`count(*) filter (where type = 'REDEEM')`.as('redemptions'),
    ])
    .where('partner_id', '=', partnerId)
    .where('created_at', '>=', from)
    .where('created_at', '<', to)
    .where('cancelled', '=', false)
    .executeTakeFirstOrThrow();
  return {
    issued: Number(row.issued),
    redeemed: Number(row.redeemed),
    reversed: Number(row.reversed),
    clawedBack: Number(row.clawed_back),
    purchases: Number(row.purchases),
    redemptions: Number(row.redemptions),
  };
}
