import { sql } from 'kysely';
import type { Db } from '../db/database';

/** One member whose stored figures disagree with its ledger. */
export interface Drift {
  memberId: string;
  checks: string[];
}

export interface VerifyReport {
  membersChecked: number;
  drift: Drift[];
}

interface Row {
  id: string;
  balance_ok: boolean;
  lots_match_credits: boolean;
  lots_consistent: boolean;
  lifetime_earned_ok: boolean;
  lifetime_redeemed_ok: boolean;
  expired_ok: boolean;
  debt_ok: boolean;
}

const CHECKS: (keyof Omit<Row, 'id'>)[] = [
  'balance_ok', 'lots_match_credits', 'lots_consistent', 'lifetime_earned_ok', 'lifetime_redeemed_ok', 'expired_ok', 'debt_ok',
];

/**
 * Recomputes one batch of members (ordered by id, after `afterId`) from the ledger, lots and
 * allocations in set-based queries, and reports every figure that does not add up:
 * - lots − debt = sum of ledger entries (what balances are computed from);
 * - each credit's lots hold exactly its points; each lot's remaining = points − its draws;
 * - lifetimeEarned, lifetimeRedeemed, expired and debt = what their entries add up to.
 */
export async function verifyBatch(db: Db, afterId: string | null, batchSize: number): Promise<{ rows: Row[]; lastId: string | null }> {
  const result = await sql<Row>`
    with m as (
      select id, debt, lifetime_earned, lifetime_redeemed, expired from members
      where ${afterId === null ? sql`true` : sql`id > ${afterId}`}
      order by id limit ${batchSize}
    ),
    lots as (
      select l.member_id, sum(l.remaining) as remaining, sum(l.points) as points,
        count(*) filter (where l.remaining <> l.points - coalesce(a.drawn, 0)) as bad
      from point_lots l
      left join (select lot_id, sum(points) as drawn from lot_allocations where member_id in (select id from m) group by lot_id) a
        on a.lot_id = l.id
      where l.member_id in (select id from m)
      group by l.member_id
    ),
    tx as (
      select member_id,
        sum(points) filter (where not cancelled) as net,
        sum(points) filter (where not cancelled and points > 0) as credits,
        sum(-points) filter (where not cancelled and points < 0) as debits,
        sum(points) filter (where not cancelled and (type in ('PURCHASE', 'EARN', 'BONUS', 'TRANSFER_IN') or (type = 'ADJUST' and points > 0))) as earned,
        sum(-points + shortfall) filter (where not cancelled and type = 'REFUND') as clawed,
        sum(-points) filter (where not cancelled and type = 'REDEEM') as redeemed,
        sum(points) filter (where not cancelled and type = 'REVERSAL') as reversed,
        sum(-points) filter (where not cancelled and type = 'EXPIRE') as expired
      from points_transactions where member_id in (select id from m)
      group by member_id
    ),
    drawn as (
      select member_id, sum(points) as total from lot_allocations where member_id in (select id from m) group by member_id
    )
    select m.id,
      coalesce(lots.remaining, 0) - m.debt = coalesce(tx.net, 0) as balance_ok,
      coalesce(lots.points, 0) = coalesce(tx.credits, 0) as lots_match_credits,
      coalesce(lots.bad, 0) = 0 as lots_consistent,
      m.lifetime_earned = coalesce(tx.earned, 0) - coalesce(tx.clawed, 0) as lifetime_earned_ok,
      m.lifetime_redeemed = coalesce(tx.redeemed, 0) - coalesce(tx.reversed, 0) as lifetime_redeemed_ok,
      m.expired = coalesce(tx.expired, 0) as expired_ok,
      m.debt = coalesce(tx.debits, 0) - coalesce(drawn.total, 0) as debt_ok
    from m
    left join lots on lots.member_id = m.id
    left join tx on tx.member_id = m.id
    left join drawn on drawn.member_id = m.id
    order by m.id`.execute(db);
  return { rows: result.rows, lastId: result.rows.at(-1)?.id ?? null };
}

/** Checks every member, batch by batch; `onProgress` hears the running count. */
export async function verifyLedger(db: Db, options: { batchSize?: number; onProgress?: (checked: number) => void } = {}): Promise<VerifyReport> {
  const batchSize = options.batchSize ?? 5000;
  const drift: Drift[] = [];
  let membersChecked = 0;
  let afterId: string | null = null;
  for (;;) {
    const { rows, lastId } = await verifyBatch(db, afterId, batchSize);
    for (const row of rows) {
      const failed = CHECKS.filter((check) => !row[check]);
      if (failed.length > 0) drift.push({ memberId: row.id, checks: failed });
    }
    membersChecked += rows.length;
    options.onProgress?.(membersChecked);
    if (rows.length < batchSize || lastId === null) break;
    afterId = lastId;
  }
  return { membersChecked, drift };
}
