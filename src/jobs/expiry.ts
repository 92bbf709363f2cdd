import type { Logger } from 'pino';
import type { Db } from '../db/database';
import { membersWithDueLots, purgeExpiredKeys } from '../ledger/ledger.repo';
import { runUnit } from '../ledger/unit-of-work';
import { tierStatusRules } from '../tiers/tiers.service';

/**
 * Writes EXPIRE entries for members with lots past their expiry, walking them in member-id order
 * a batch at a time, so members whose status holds expiry off (and who therefore stay due) never
 * crowd out the rest. Each member is settled as a unit of work (which settles its members'
 * expiry first), so two sweeps (or a sweep and a request) racing on one member expire each lot
 * exactly once. Returns the points expired.
 */
export async function sweepExpiry(db: Db, now: Date, logger?: Logger, batchSize = 500): Promise<number> {
  const env = { db, now: async () => now };
  let expired = 0;
  let members = 0;
  let after: string | null = null;
  for (;;) {
    const due = await membersWithDueLots(db, now, after, batchSize);
    for (const { member_id } of due) {
      expired += await runUnit(env, { members: [member_id], status: tierStatusRules, active: false }, async (work) => work.expiredBySettling(member_id));
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
