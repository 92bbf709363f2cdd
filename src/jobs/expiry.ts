import type { Logger } from 'pino';
import type { Db } from '../db/database';
import { inTransaction } from '../db/transaction';
import { lockMember, settleExpiry } from '../ledger/ledger.core';
import { purgeExpiredKeys } from '../ledger/idempotency';
import { getProgram } from '../program/program.service';

/**
 * Writes EXPIRE entries for members with lots past their expiry, walking them in member-id order
 * a batch at a time, so members whose status holds expiry off (and who therefore stay due) never
 * crowd out the rest. Each member is settled under its row lock, so two sweeps (or a sweep and a
 * request) racing on one member expire each lot exactly once. Returns the points expired.
 */
export async function sweepExpiry(db: Db, now: Date, logger?: Logger, batchSize = 500): Promise<number> {
  const program = await getProgram(db);
  let expired = 0;
  let members = 0;
  let after: string | null = null;
  for (;;) {
    let query = db
      .selectFrom('point_lots')
      .select('member_id')
      .distinct()
      .where('remaining', '>', 0)
      .where('expires_at', '<=', now);
    if (after !== null) query = query.where('member_id', '>', after);
    const due = await query.orderBy('member_id').limit(batchSize).execute();
    for (const { member_id } of due) {
      expired += await inTransaction(db, async (tx) => {
        const member = await lockMember(tx, member_id, { active: false });
        return settleExpiry(tx, member, program, now);
      });
    }
    members += due.length;
    if (due.length < batchSize) break;
    after = (due.at(-1) as { member_id: string }).member_id;
  }
  if (expired > 0) logger?.info({ members, points: expired }, 'expiry sweep');
  return expired;
}

/** Drops idempotency records past their retention. */
export async function purgeIdempotency(db: Db, now: Date, logger?: Logger): Promise<number> {
  const purged = await purgeExpiredKeys(db, now);
  if (purged > 0) logger?.info({ purged }, 'idempotency records purged');
  return purged;
}
