/** The SQL of the points operations that is not the ledger's own (ledger/ledger.repo.ts). */
import type { Db } from '../db/database';

/** Whether a REDEEM entry paid for a reward's voucher (rewards/), which only cancelling the voucher gives back. */
export async function paidForVoucher(db: Db, txnId: string): Promise<boolean> {
  return (await db.selectFrom('redemptions').select('id').where('txn_id', '=', txnId).executeTakeFirst()) !== undefined;
}
