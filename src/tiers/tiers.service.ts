import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { inTransaction } from '../db/transaction';
import { BadInputError, NotFoundError } from '../errors';
import { requireRole } from '../auth/guards';
import { credit, lockMember } from '../ledger/ledger.core';
import { fromUnits } from '../ledger/money';
import { addMonths } from '../ledger/ledger.rules';
import type { MemberRow } from '../members/members.repo';
import { getProgram } from '../program/program.service';
import type { ProgramView, RetentionView, TierStatusView, TierView } from '../program/program.types';
import * as engine from './tiers.engine';
import * as repo from './tiers.repo';
import {
  downgradeTarget, higher, lifetimeTier, meetsTier, nextTierAbove, qualificationWindow, qualifiedTier, reviewWindow, shortfall, streakAt,
  type StreakState, type Window,
} from './tiers.rules';

/**
 * Just the tier held at `now` (reviews due by then applied, nothing written): what an earn
 * needs for its multiplier, without the progress figures tierStatus computes.
 */
/** Whether a ledger write for this programme reads the member's tier state (more than one rung, or expiry that status freezes). */
export function readsTierState(program: ProgramView): boolean {
  return program.tiers.length > 1 || program.freeze_expiry_min_rank != null;
}

/**
 * What a purchase's member lock should also read for the tier engine: the qualification
 * window's metrics at `now`, when the engine will judge the purchase before its statement
 * (ledger.core credit) and the window does not depend on the member's enrolment date. Members
 * whose stored tier has nothing earnable above it (and no grace running) skip the read, as the
 * engine skips the check.
 */
export function purchaseMetricsRead(program: ProgramView, now: Date): PurchaseMetricsRead | undefined {
  if (program.tiers.length === 1 || awardsBonuses(program) || program.qualification_window === 'ANNIVERSARY_YEAR') return undefined;
  const atTop = program.tiers.filter((t) => !program.tiers.some((u) => u.rank > t.rank && !u.invitation_only)).map((t) => t.code);
  return { window: qualificationWindow(program.qualification_window, now, now), knownAt: now, unlessTierIn: atTop };
}

export interface PurchaseMetricsRead { window: Window; knownAt: Date; unlessTierIn: string[] }

export async function currentTier(db: Db, member: MemberRow, program: ProgramView, now: Date): Promise<TierView> {
  if (program.tiers.length === 1) return program.tiers[0] as TierView;
  const ev = await engine.load(db, member, program);
  await engine.catchUp(db, member, program, ev, now);
  return engine.effectiveTier(program, ev.state, now);
}

// One request may ask for `tier` and `switchingCost` of the same member row: compute once.
const statusOfRow = new WeakMap<MemberRow, Promise<TierStatusView>>();

/** tierStatus at the request's instant, computed once per member row (that is, per request). */
export async function memberTierStatus(ctx: Ctx, member: MemberRow): Promise<TierStatusView> {
  let status = statusOfRow.get(member);
  if (!status) {
    status = (async () => tierStatus(ctx.db, member, await getProgram(ctx.db), await ctx.now()))();
    statusOfRow.set(member, status);
  }
  return status;
}

/** The member's tier and progress at `now`, with every review due by then applied (nothing is written). */
export async function tierStatus(db: Db, member: MemberRow, program: ProgramView, now: Date): Promise<TierStatusView> {
  const ev = await engine.load(db, member, program);
  await engine.catchUp(db, member, program, ev, now);
  const s = ev.state;
  const kind = program.qualification_window;
  const window = qualificationWindow(kind, member.enrolled_at, now);
  const [m, lifetimePoints] = await Promise.all([repo.metrics(db, member.id, window, now), repo.lifetimeQualifying(db, member.id, now)]);
  const earned = engine.tierByCode(program, s.tier_code) ?? engine.lowest(program);
  const current = engine.effectiveTier(program, s, now);
  const assignedActive = s.assigned_until && s.assigned_until.getTime() > now.getTime() ? engine.tierByCode(program, s.assigned_code) : null;
  const byAssignment = assignedActive !== null && assignedActive.rank > earned.rank;
  const lifetimeHeld = engine.tierByCode(program, s.lifetime_code);
  const nextTier = nextTierAbove(program.tiers, current);

  let retention: RetentionView | null = null;
  let downgradeAt: Date | null = null;
  let downgradeTo = null;
  if (s.valid_until) {
    const by = s.grace_until ?? (program.grace_months > 0 ? addMonths(s.valid_until, program.grace_months) : s.valid_until);
    const rm = await repo.metrics(db, member.id, reviewWindow(kind, member.enrolled_at, s.valid_until, by), now);
    const missing = shortfall(earned, rm);
    const met = meetsTier(earned, rm);
    retention = {
      tier: earned, by, met, pointsNeeded: missing.points, spendNeeded: fromUnits(BigInt(missing.spendCents), 2), purchasesNeeded: missing.purchases,
    };
    if (!met) {
      downgradeAt = by;
      const target = downgradeTarget(program.tiers, earned, qualifiedTier(program.tiers, rm), program.downgrade_mode, lifetimeHeld);
      const floor = s.assigned_until && s.assigned_until.getTime() > by.getTime() ? engine.tierByCode(program, s.assigned_code) : null;
      downgradeTo = higher(target, floor);
    }
  }
  return {
    memberId: member.id,
    current,
    since: byAssignment ? (s.assigned_since ?? s.since) : s.since,
    validUntil: byAssignment ? s.assigned_until : s.valid_until,
    qualifyingPoints: m.points,
    nextTier,
    pointsToNextTier: nextTier ? shortfall(nextTier, m).points : null,
    lifetime: lifetimeHeld !== null && lifetimeHeld.rank >= current.rank,
    windowKind: kind,
    windowStart: window.from,
    qualifyingSpend: fromUnits(BigInt(m.spendCents), 2),
    qualifyingPurchases: m.purchases,
    lifetimeQualifyingPoints: lifetimePoints,
    lifetimeTier: lifetimeHeld,
    earnedTier: earned,
    assignedTier: assignedActive,
    assignedUntil: assignedActive ? s.assigned_until : null,
    graceUntil: s.grace_until,
    retention,
    downgradeAt,
    downgradeTo,
    expiryFrozen: program.freeze_expiry_min_rank != null && current.rank >= program.freeze_expiry_min_rank,
  };
}

/**
 * Called inside the ledger transaction (member locked) whenever an entry adds or removes
 * qualifying points: applies due reviews, then upgrades, lifetime status and refund reversals
 * at once, and credits milestone and streak bonuses not yet awarded.
 */
export async function onQualifyingPointsChanged(tx: Db, member: MemberRow, program: ProgramView, now: Date, delta = 1): Promise<void> {
  // A one-rung ladder with no bonuses has nothing to move or award; a member without a stored
  // state reads as the lowest rung since enrolment, as load() would build it.
  if (program.tiers.length === 1 && !awardsBonuses(program)) return;
  const ev = await engine.load(tx, member, program);
  await engine.catchUp(tx, member, program, ev, now);
  await engine.applyActivity(tx, member, program, ev, now, delta < 0 ? -1 : 1);
  if (ev.readVersion === null) ev.changed = true; // first activity: store the row so the scheduler sees it
  await engine.persist(tx, program, ev, now);
  await awardBonuses(tx, member, program, now);
}

/**
 * Whether the member's status currently holds off point expiry. Inside a transaction (the
 * ledger holds the member lock there) due reviews are written first, so lots that fell due
 * while frozen get their new dates before settleExpiry looks. On a plain read a freeze lost
 * but not yet written still counts as frozen, so points never vanish before that happens.
 */
export async function expiryFrozen(db: Db, member: MemberRow, program: ProgramView, now: Date): Promise<boolean> {
  if (program.freeze_expiry_min_rank == null) return false;
  const ev = await engine.load(db, member, program);
  const storedFrozen = ev.state.expiry_frozen;
  await engine.catchUp(db, member, program, ev, now);
  if (db.isTransaction) {
    await engine.persist(db, program, ev, now);
    return ev.state.expiry_frozen;
  }
  return ev.state.expiry_frozen || (storedFrozen && ev.freezeLostAt.length > 0);
}

/** Writes due reviews and bonuses for one locked member. True when anything changed. */
export async function maintainMember(tx: Db, member: MemberRow, program: ProgramView, now: Date): Promise<boolean> {
  const ev = await engine.load(tx, member, program);
  await engine.catchUp(tx, member, program, ev, now);
  const changed = await engine.persist(tx, program, ev, now);
  const bonuses = await awardBonuses(tx, member, program, now);
  return changed || bonuses > 0;
}

/** Whether qualifying activity can earn milestone or streak bonuses in this programme. */
export function awardsBonuses(program: ProgramView): boolean {
  return program.milestones.length > 0 || !!(program.streak_length && program.streak_bonus_points > 0);
}

/** Credits each milestone and streak bonus the member has reached and not yet received (once each). */
export async function awardBonuses(tx: Db, member: MemberRow, program: ProgramView, now: Date): Promise<number> {
  let awarded = 0;
  if (member.status !== 'ACTIVE') return 0;
  const milestones = program.milestones;
  if (milestones.length > 0) {
    const lifetime = await repo.lifetimeQualifying(tx, member.id, now);
    const have = await repo.awardedMilestones(tx, member.id);
    for (const ms of milestones) {
      if (lifetime < ms.lifetime_qualifying_points || have.has(ms.lifetime_qualifying_points)) continue;
      const txn = await credit(tx, member, program, now, {
        type: 'BONUS', points: ms.bonus_points, qualifyingPoints: 0, description: `Milestone bonus: ${ms.name}`, actor: 'system',
      });
      await repo.recordMilestone(tx, member.id, ms.lifetime_qualifying_points, txn.id, now);
      awarded++;
    }
  }
  if (program.streak_length && program.streak_bonus_points > 0) {
    const streak = await streakOf(tx, member, program, now);
    const have = await repo.awardedStreaks(tx, member.id);
    for (const done of streak.completed) {
      if (have.has(done.periodStart.getTime())) continue;
      const txn = await credit(tx, member, program, now, {
        type: 'BONUS', points: program.streak_bonus_points, qualifyingPoints: 0,
        description: `Streak bonus: ${done.length} ${program.streak_period === 'QUARTER' ? 'quarters' : 'months'} in a row`, actor: 'system',
      });
      await repo.recordStreak(tx, member.id, done.periodStart, done.length, txn.id, now);
      awarded++;
    }
  }
  return awarded;
}

export async function streakOf(db: Db, member: MemberRow, program: ProgramView, now: Date): Promise<StreakState> {
  const periods = await repo.activePeriods(db, member.id, program.streak_period, now);
  return streakAt(program.streak_period, periods, now, program.streak_length);
}

export async function tierHistory(db: Db, memberId: string, first: number) {
  if (!Number.isInteger(first) || first < 1 || first > 100) throw new BadInputError('first must be 1-100', 'first');
  return repo.history(db, memberId, first);
}

export interface AssignTierInput { memberId: string; tierCode: string; until: Date; reason?: string | null }

/**
 * Assigns a tier (invitation-only or any other) until a date (ADMIN). It is a floor: the member
 * holds it or anything higher they earn; when it ends the earned tier shows again.
 */
export async function assignTier(ctx: Ctx, input: AssignTierInput): Promise<MemberRow> {
  requireRole(ctx, 'ADMIN');
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  const tier = program.tiers.find((t) => t.code === input.tierCode);
  if (!tier) throw new NotFoundError('Tier');
  if (input.until.getTime() <= now.getTime()) throw new BadInputError('until must be in the future', 'until');
  const reason = input.reason?.trim() || null;
  if (reason && reason.length > 500) throw new BadInputError('reason must be at most 500 characters', 'reason');
  return inTransaction(ctx.db, async (tx) => {
    const member = await lockMember(tx, input.memberId, { active: false });
    const ev = await engine.load(tx, member, program);
    await engine.catchUp(tx, member, program, ev, now);
    engine.change(program, ev, now, 'ASSIGNED', { assigned_code: tier.code, assigned_since: now, assigned_until: input.until }, reason);
    await engine.persist(tx, program, ev, now);
    return member;
  }, { ahead: ctx.rateCount });
}

/** Ends a member's tier assignment now (ADMIN); the earned tier shows again. */
export async function endTierAssignment(ctx: Ctx, memberId: string): Promise<MemberRow> {
  requireRole(ctx, 'ADMIN');
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  return inTransaction(ctx.db, async (tx) => {
    const member = await lockMember(tx, memberId, { active: false });
    const ev = await engine.load(tx, member, program);
    await engine.catchUp(tx, member, program, ev, now);
    if (ev.state.assigned_code) {
      engine.change(program, ev, now, 'ASSIGNMENT_ENDED', { assigned_code: null, assigned_since: null, assigned_until: null }, 'Ended by an administrator');
      await engine.persist(tx, program, ev, now);
    }
    return member;
  }, { ahead: ctx.rateCount });
}

export { lifetimeTier };
