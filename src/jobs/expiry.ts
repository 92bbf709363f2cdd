import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import { inTransaction } from '../db/transaction';
import { lockMember, settleExpiry } from '../ledger/ledger.core';
import { purgeExpiredKeys } from '../ledger/idempotency';
import { getProgram } from '../program/program.service';
import { NIL_UUID } from '../members/members.rules';

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
    const due = await membersWithDueLots(db, now, after, batchSize);
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

/**
 * The next `limit` members after `after` (in id order) holding lots past their expiry. The due
 * lots are read first, through their own index (migration 008): ordered by member instead,
 * PostgreSQL walks every open lot of every member to find the few that are due.
 */
async function membersWithDueLots(db: Db, now: Date, after: string | null, limit: number): Promise<{ member_id: string }[]> {
  const { rows } = await sql<{ member_id: string }>`
    with due as materialized (
      select member_id from point_lots where remaining > 0 and expires_at is not null and expires_at <= ${now})
    select distinct member_id from due
    where member_id > ${after ?? NIL_UUID}::uuid
    order by member_id limit ${limit}`.execute(db);
  return rows;
}

/** Drops idempotency records past their retention. */
export async function purgeIdempotency(db: Db, now: Date, logger?: Logger): Promise<number> {
  const purged = await purgeExpiredKeys(db, now);
  if (purged > 0) logger?.info({ purged }, 'idempotency records purged');
  return purged;
}
