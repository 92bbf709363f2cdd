import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { BadInputError, NotFoundError } from '../errors';
import { credit } from '../ledger/ledger.core';
import { runUnit, type ExtraRead, type StatusRules, type UnitEnv, type UnitOfWork } from '../ledger/unit-of-work';
import { fromUnits } from '../money';
import { addMonths } from '../ledger/ledger.rules';
import type { MemberRow } from '../db/rows';
import { getProgram } from '../program/program.service';
import type { ProgramView, RetentionView, TierStatusView, TierView } from '../program/program.types';
import * as engine from './tiers.engine';
import * as repo from './tiers.repo';
import { metricsKey, metricsRead, tierStateRead, type TierReads } from './tiers.repo';
import {
  downgradeTarget, higher, lifetimeTier, meetsTier, nextTierAbove, qualificationWindow, qualifiedTier, reviewWindow, shortfall, streakAt,
  type StreakState, type Window,
} from './tiers.rules';

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

/**
 * Just the tier held at `now` (reviews due by then applied, nothing written): what an earn
 * needs for its multiplier, without the progress figures tierStatus computes.
 */
export async function currentTier(db: TierReads, member: MemberRow, program: ProgramView, now: Date): Promise<TierView> {
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
    status = (async () => tierStatus({ db: ctx.db }, member, await getProgram(ctx.db), await ctx.now()))();
    statusOfRow.set(member, status);
  }
  return status;
}

/** The member's tier and progress at `now`, with every review due by then applied (nothing is written). */
export async function tierStatus(reads: TierReads, member: MemberRow, program: ProgramView, now: Date): Promise<TierStatusView> {
  const ev = await engine.load(reads, member, program);
  await engine.catchUp(reads, member, program, ev, now);
  const s = ev.state;
  const kind = program.qualification_window;
  const window = qualificationWindow(kind, member.enrolled_at, now);
  const [m, lifetimePoints] = await Promise.all([repo.metrics(reads, member.id, window, now), repo.lifetimeQualifying(reads, member.id, now)]);
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
    const rm = await repo.metrics(reads, member.id, reviewWindow(kind, member.enrolled_at, s.valid_until, by), now);
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
 * After a unit of work planned qualifying activity for the member: applies due reviews, then
 * upgrades, lifetime status and refund reversals at once, and credits milestone and streak
 * bonuses not yet awarded. Bonuses and refunds are judged on written figures, so the unit writes
 * what it planned first.
 */
export async function afterActivity(work: UnitOfWork, member: MemberRow, direction: 1 | -1): Promise<void> {
  const program = work.program;
  // A one-rung ladder with no bonuses has nothing to move or award; a member without a stored
  // state reads as the lowest rung since enrolment, as load() would build it.
  if (program.tiers.length === 1 && !awardsBonuses(program)) return;
  if (awardsBonuses(program) || work.unwritten(member.id).some((a) => !a.countable)) await work.written();
  const ev = await engine.load(work, member, program);
  await engine.catchUp(work, member, program, ev, work.now);
  await engine.applyActivity(work, member, program, ev, work.now, direction);
  if (ev.readVersion === null) ev.changed = true; // first activity: store the row so the scheduler sees it
  await engine.persist(work, program, ev);
  await awardBonuses(work, member);
}

/**
 * Whether the member's status currently holds off point expiry. Inside a unit of work due
 * reviews are written first, so lots that fell due while frozen get their new dates before
 * settleExpiry looks.
 */
export async function expiryFrozen(work: UnitOfWork, member: MemberRow): Promise<boolean> {
  const program = work.program;
  if (program.freeze_expiry_min_rank == null) return false;
  const ev = await engine.load(work, member, program);
  await engine.catchUp(work, member, program, ev, work.now);
  await engine.persist(work, program, ev);
  return ev.state.expiry_frozen;
}

/**
 * expiryFrozen on a plain read: nothing is written, and a freeze lost but not yet written still
 * counts as frozen, so points never vanish before that happens.
 */
export async function expiryFrozenOnRead(db: Db, member: MemberRow, program: ProgramView, now: Date): Promise<boolean> {
  if (program.freeze_expiry_min_rank == null) return false;
  const ev = await engine.load({ db }, member, program);
  const storedFrozen = ev.state.expiry_frozen;
  await engine.catchUp({ db }, member, program, ev, now);
  return ev.state.expiry_frozen || (storedFrozen && ev.freezeLostAt.length > 0);
}

/** Writes due reviews and bonuses for one member, as a unit of work. True when anything changed. */
export async function maintainMember(env: UnitEnv, memberId: string): Promise<boolean> {
  return runUnit(env, { members: [memberId], status: tierStatusRules, active: false, settle: false }, async (work) => {
    const member = work.member(memberId);
    const ev = await engine.load(work, member, work.program);
    await engine.catchUp(work, member, work.program, ev, work.now);
    const changed = await engine.persist(work, work.program, ev);
    const bonuses = await awardBonuses(work, member);
    return changed || bonuses > 0;
  });
}

/** Whether qualifying activity can earn milestone or streak bonuses in this programme. */
export function awardsBonuses(program: ProgramView): boolean {
  return program.milestones.length > 0 || !!(program.streak_length && program.streak_bonus_points > 0);
}

/** Credits each milestone and streak bonus the member has reached and not yet received (once each). */
export async function awardBonuses(work: UnitOfWork, member: MemberRow): Promise<number> {
  const { program, now } = work;
  let awarded = 0;
  if (member.status !== 'ACTIVE') return 0;
  const milestones = program.milestones;
  if (milestones.length > 0) {
    const lifetime = await repo.lifetimeQualifying(work, member.id, now);
    const have = await repo.awardedMilestones(work.db, member.id);
    for (const ms of milestones) {
      if (lifetime < ms.lifetime_qualifying_points || have.has(ms.lifetime_qualifying_points)) continue;
      const txn = await credit(work, member, {
        type: 'BONUS', points: ms.bonus_points, qualifyingPoints: 0, description: `Milestone bonus: ${ms.name}`, actor: 'system',
      });
      work.write(repo.recordMilestone(member.id, ms.lifetime_qualifying_points, txn.id, now));
      awarded++;
    }
  }
  if (program.streak_length && program.streak_bonus_points > 0) {
    const streak = await streakOf(work.db, member, program, now);
    const have = await repo.awardedStreaks(work.db, member.id);
    for (const done of streak.completed) {
      if (have.has(done.periodStart.getTime())) continue;
      const txn = await credit(work, member, {
        type: 'BONUS', points: program.streak_bonus_points, qualifyingPoints: 0,
        description: `Streak bonus: ${done.length} ${program.streak_period === 'QUARTER' ? 'quarters' : 'months'} in a row`, actor: 'system',
      });
      work.write(repo.recordStreak(member.id, done.periodStart, done.length, txn.id, now));
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
  const now = await ctx.now();
  const program = await getProgram(ctx.db);
  const tier = program.tiers.find((t) => t.code === input.tierCode);
  if (!tier) throw new NotFoundError('Tier');
  if (input.until.getTime() <= now.getTime()) throw new BadInputError('until must be in the future', 'until');
  const reason = input.reason?.trim() || null;
  if (reason && reason.length > 500) throw new BadInputError('reason must be at most 500 characters', 'reason');
  return runUnit(ctx, { members: [input.memberId], status: tierStatusRules, active: false, settle: false }, async (work) => {
    const member = work.member(input.memberId);
    const ev = await engine.load(work, member, program);
    await engine.catchUp(work, member, program, ev, work.now);
    engine.change(program, ev, work.now, 'ASSIGNED', { assigned_code: tier.code, assigned_since: work.now, assigned_until: input.until }, reason);
    await engine.persist(work, program, ev);
    return member;
  });
}

/** Ends a member's tier assignment now (ADMIN); the earned tier shows again. */
export async function endTierAssignment(ctx: Ctx, memberId: string): Promise<MemberRow> {
  return runUnit(ctx, { members: [memberId], status: tierStatusRules, active: false, settle: false }, async (work) => {
    const member = work.member(memberId);
    const ev = await engine.load(work, member, work.program);
    await engine.catchUp(work, member, work.program, ev, work.now);
    if (ev.state.assigned_code) {
      engine.change(work.program, ev, work.now, 'ASSIGNMENT_ENDED', { assigned_code: null, assigned_since: null, assigned_until: null }, 'Ended by an administrator');
      await engine.persist(work, work.program, ev);
    }
    return member;
  });
}

/**
 * The tier engine as the ledger's unit of work sees it (ledger/unit-of-work.ts StatusRules):
 * what the member read takes for it, the expiry freeze, and what qualifying activity does.
 */
export const tierStatusRules: StatusRules = {
  reads(program, now) {
    const reads: ExtraRead[] = [];
    if (readsTierState(program)) reads.push({ key: engine.TIER_STATE_KEY, sql: tierStateRead });
    const metrics = purchaseMetricsRead(program, now);
    if (metrics) reads.push({ key: metricsKey(metrics.window, metrics.knownAt), sql: metricsRead(metrics.window, metrics.knownAt, metrics.unlessTierIn) });
    return reads;
  },
  expiryFrozen: (work, member) => expiryFrozen(work, member),
  afterActivity: (work, member, direction) => afterActivity(work, member, direction),
};

export { lifetimeTier };
