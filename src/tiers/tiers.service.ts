import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { MemberRow } from '../members/members.repo';
import { addMonths } from '../ledger/ledger.rules';
import type { ProgramView, TierStatusView, TierView } from '../program/program.types';

/** Qualifying points earned in the rolling 12 months up to `now`. */
export async function qualifyingPointsInWindow(db: Db, memberId: string, now: Date): Promise<number> {
  const row = await db
    .selectFrom('points_transactions')
    .select(sql<number>`coalesce(sum(qualifying_points), 0)::int`.as('qp'))
    .where('member_id', '=', memberId)
    .where('cancelled', '=', false)
    .where('occurred_at', '>', addMonths(now, -12))
    .where('occurred_at', '<=', now)
    .executeTakeFirstOrThrow();
  return row.qp;
}

/** The highest tier whose threshold `qualifyingPoints` meets. */
export function qualifiedTier(tiers: TierView[], qualifyingPoints: number): TierView {
  let best = tiers[0] as TierView;
  for (const tier of tiers) if (qualifyingPoints >= tier.qualifying_points_required) best = tier;
  return best;
}

/** The member's tier and progress at `now`. */
export async function tierStatus(db: Db, member: MemberRow, program: ProgramView, now: Date): Promise<TierStatusView> {
  const qualifyingPoints = await qualifyingPointsInWindow(db, member.id, now);
  const current = qualifiedTier(program.tiers, qualifyingPoints);
  const nextTier = program.tiers.find((t) => t.rank > current.rank) ?? null;
  return {
    current,
    since: member.enrolled_at,
    validUntil: null,
    qualifyingPoints,
    nextTier,
    pointsToNextTier: nextTier ? Math.max(0, nextTier.qualifying_points_required - qualifyingPoints) : null,
    lifetime: false,
  };
}

/**
 * Called inside the ledger transaction (member locked) whenever an entry adds or removes
 * qualifying points, so upgrades happen the moment a threshold is met.
 */
export async function onQualifyingPointsChanged(_tx: Db, _member: MemberRow, _program: ProgramView, _now: Date): Promise<void> {
  // No tier state is stored yet: tierStatus derives the tier on read.
}

/** Whether the member's status currently holds off point expiry. */
export async function expiryFrozen(_db: Db, _member: MemberRow, _program: ProgramView, _now: Date): Promise<boolean> {
  return false;
}
