/**
 * The tier state machine. A member's stored state (member_tiers) changes only at events:
 * qualifying activity (upgrade, lifetime, refund reversal), a review at the end of the validity
 * period, the end of a grace period, and the end of an ADMIN assignment. Time-driven events
 * are replayed from the stored state by catchUp, so a read computes exactly what the scheduled
 * evaluation will write: the same history and clock give the same tier.
 */
import type { Insertable } from 'kysely';
import type { TierChangeReason, TierHistoryTable } from '../db/schema';
import { addMonths, lotExpiry } from '../ledger/ledger.rules';
import { expiryPolicy } from '../ledger/ledger.core';
import type { UnitOfWork } from '../ledger/unit-of-work';
import { pushOverdueLots } from '../ledger/unit-of-work.repo';
import type { MemberRow } from '../db/rows';
import type { ProgramView, TierView } from '../program/program.types';
import * as repo from './tiers.repo';
import type { MemberTierRow, TierReads } from './tiers.repo';
import {
  downgradeTarget, higher, lifetimeTier, meetsTier, qualificationWindow, qualifiedTier, reviewWindow, statusPeriod, validityEnd,
} from './tiers.rules';

/** A state being evolved, with what must be written if it is persisted. */
export interface Evolving {
  state: MemberTierRow;
  /** Version read, null when no row existed. */
  readVersion: number | null;
  /** Whether the unit of work's plan holds the write of this state (persist). */
  planned?: boolean;
  /** History rows persisted and not yet written, oldest first, and whether the plan holds their write. */
  unwrittenHistory?: Insertable<TierHistoryTable>[];
  historyPlanned?: boolean;
  history: Insertable<TierHistoryTable>[];
  /** Instants at which expiry stopped being frozen. */
  freezeLostAt: Date[];
  changed: boolean;
}

export function tierByCode(program: ProgramView, code: string | null | undefined): TierView | null {
  if (!code) return null;
  // A code dropped from the ladder by setTiers falls back to the lowest rung.
  return program.tiers.find((t) => t.code === code) ?? (program.tiers[0] as TierView);
}

export function lowest(program: ProgramView): TierView {
  return program.tiers[0] as TierView;
}

/** The tier the member holds at `at`: the earned tier or an active assignment, whichever ranks higher. */
export function effectiveTier(program: ProgramView, state: Pick<MemberTierRow, 'tier_code' | 'assigned_code' | 'assigned_until'>, at: Date): TierView {
  const earned = tierByCode(program, state.tier_code) ?? lowest(program);
  const assigned = state.assigned_until && state.assigned_until.getTime() > at.getTime() ? tierByCode(program, state.assigned_code) : null;
  return higher(earned, assigned);
}

function isFrozen(program: ProgramView, tier: TierView): boolean {
  return program.freeze_expiry_min_rank != null && tier.rank >= program.freeze_expiry_min_rank;
}

/** Key of the states a unit of work evolves, by member id (UnitOfWork.state). */
const EVOLVING = {};

/**
 * The member's state to evolve. Inside a unit of work every caller gets the same Evolving for
 * the same member, so the tier a purchase earns at, the expiry freeze and the activity hook read
 * the stored row once and build on each other's changes.
 */
export async function load(reads: TierReads, member: MemberRow, program: ProgramView): Promise<Evolving> {
  const work = isUnit(reads) ? reads : null;
  const cached = work?.state(EVOLVING, () => new Map<string, Evolving>()).get(member.id);
  if (cached) return cached;
  const known = reads.known?.<Record<string, unknown> | null>(member.id, TIER_STATE_KEY);
  const row = known !== undefined ? (known === null ? undefined : repo.stateFromJson(known)) : await repo.findState(reads.db, member.id);
  const state: MemberTierRow = row ?? {
    member_id: member.id, tier_code: lowest(program).code, since: member.enrolled_at, valid_until: null, grace_until: null,
    lifetime_code: null, assigned_code: null, assigned_since: null, assigned_until: null,
    expiry_frozen: isFrozen(program, lowest(program)), version: 0, updated_at: member.enrolled_at,
  };
  const ev: Evolving = { state: { ...state }, readVersion: row ? row.version : null, history: [], freezeLostAt: [], changed: false };
  work?.state(EVOLVING, () => new Map<string, Evolving>()).set(member.id, ev);
  return ev;
}

/** The key of the stored state in the member read (tiers.service.ts tierStatusRules). */
export const TIER_STATE_KEY = 'tier_state';

function isUnit(reads: TierReads): reads is UnitOfWork {
  return typeof (reads as Partial<UnitOfWork>).state === 'function';
}

/**
 * Applies a change at `at`: earned-track fields and/or assignment, a history row, and the
 * expiry-freeze transition it causes.
 */
export function change(
  program: ProgramView, ev: Evolving, at: Date, reason: TierChangeReason,
  patch: Partial<MemberTierRow>, note: string | null = null,
): void {
  const before = effectiveTier(program, ev.state, new Date(at.getTime() - 1));
  const previous = { valid_until: ev.state.valid_until, since: ev.state.since };
  Object.assign(ev.state, patch);
  const after = effectiveTier(program, ev.state, at);
  ev.history.push({
    member_id: ev.state.member_id, at, from_code: before.code, to_code: after.code, reason,
    valid_until: ev.state.valid_until, previous_valid_until: previous.valid_until, previous_since: previous.since, note, created_at: at,
  });
  const frozen = isFrozen(program, after);
  if (ev.state.expiry_frozen && !frozen) ev.freezeLostAt.push(at);
  ev.state.expiry_frozen = frozen;
  ev.changed = true;
}

function windowKind(program: ProgramView) {
  return program.qualification_window;
}

/** Status for `tier` gained at `at`: valid to the end of the next period; the lowest rung and lifetime status never lapse. */
function validityFor(program: ProgramView, member: MemberRow, state: MemberTierRow, tier: TierView, at: Date): Date | null {
  const floor = tierByCode(program, state.lifetime_code);
  if (tier.rank === lowest(program).rank || (floor && tier.rank <= floor.rank)) return null;
  return validityEnd(windowKind(program), member.enrolled_at, at);
}

/** Replays every review, grace end and assignment end due at or before `now`, oldest first. */
export async function catchUp(db: TierReads, member: MemberRow, program: ProgramView, ev: Evolving, now: Date): Promise<void> {
  const kind = windowKind(program);
  for (let guard = 0; guard < 100; guard++) {
    const s = ev.state;
    const reviewAt = s.grace_until ?? s.valid_until;
    const assignmentEnd = s.assigned_code ? s.assigned_until : null;
    const due = [reviewAt, assignmentEnd].filter((d): d is Date => d !== null && d.getTime() <= now.getTime());
    if (due.length === 0) return;
    const at = new Date(Math.min(...due.map((d) => d.getTime())));
    if (assignmentEnd && assignmentEnd.getTime() === at.getTime()) {
      change(program, ev, at, 'ASSIGNMENT_ENDED', { assigned_code: null, assigned_since: null, assigned_until: null });
      continue;
    }
    const periodEnd = s.valid_until as Date;
    const current = tierByCode(program, s.tier_code) ?? lowest(program);
    const m = await repo.metrics(db, member.id, reviewWindow(kind, member.enrolled_at, periodEnd, at), at);
    const qualified = qualifiedTier(program.tiers, m);
    if (qualified.rank >= current.rank) {
      change(program, ev, at, qualified.rank > current.rank ? 'UPGRADE' : 'REQUALIFIED', {
        tier_code: qualified.code, since: qualified.code === current.code ? s.since : at, grace_until: null,
        valid_until: validityFor(program, member, s, qualified, new Date(periodEnd.getTime() - 1)),
      });
    } else if (program.grace_months > 0 && s.grace_until === null) {
      change(program, ev, at, 'GRACE_STARTED', { grace_until: addMonths(periodEnd, program.grace_months) });
    } else {
      const target = downgradeTarget(program.tiers, current, qualified, program.downgrade_mode, tierByCode(program, s.lifetime_code));
      const validUntil = validityFor(program, member, s, target, at) === null ? null : statusPeriod(kind, member.enrolled_at, at).to;
      change(program, ev, at, 'DOWNGRADE', {
        tier_code: target.code, since: at, grace_until: null, valid_until: validUntil,
      });
    }
  }
  throw new Error(`tier catch-up for member ${member.id} did not settle`);
}

/** Whether any rung has a lifetime threshold: only then does lifetime status need the lifetime sum. */
export function hasLifetimeTiers(program: ProgramView): boolean {
  return program.tiers.some((t) => t.lifetime_qualifying_points_required != null);
}

/**
 * What qualifying activity at `now` does: lifetime status gained or lost, upgrades a refund no
 * longer supports undone, an upgrade the moment a threshold is met, requalification in grace.
 * `direction` is the sign of the change: a gain cannot undo an upgrade and a loss cannot earn
 * one, so each skips the queries the other needs.
 */
export async function applyActivity(db: TierReads, member: MemberRow, program: ProgramView, ev: Evolving, now: Date, direction: 1 | -1 = 1): Promise<void> {
  const kind = windowKind(program);
  if (hasLifetimeTiers(program) || ev.state.lifetime_code) await applyLifetime(db, member, program, ev, now);
  if (direction < 0) {
    await reverseUnsupportedUpgrades(db, member, program, ev, now);
    return;
  }
  const s = ev.state;
  const current = tierByCode(program, s.tier_code) ?? lowest(program);
  // Nothing to earn above the top earnable rung.
  if (!program.tiers.some((t) => t.rank > current.rank && !t.invitation_only) && !s.grace_until) return;
  const qualified = qualifiedTier(program.tiers, await repo.metrics(db, member.id, qualificationWindow(kind, member.enrolled_at, now), now));
  if (qualified.rank > current.rank) {
    change(program, ev, now, 'UPGRADE', {
      tier_code: qualified.code, since: now, grace_until: null, valid_until: validityFor(program, member, s, qualified, now),
    });
    return;
  }
  if (s.grace_until && s.valid_until) {
    const m = await repo.metrics(db, member.id, reviewWindow(kind, member.enrolled_at, s.valid_until, now), now);
    if (meetsTier(current, m)) {
      change(program, ev, now, 'REQUALIFIED', {
        grace_until: null, valid_until: validityFor(program, member, s, current, new Date(s.valid_until.getTime() - 1)),
      });
    }
  }
}

async function applyLifetime(db: TierReads, member: MemberRow, program: ProgramView, ev: Evolving, now: Date): Promise<void> {
  const s = ev.state;
  const earned = lifetimeTier(program.tiers, await repo.lifetimeQualifying(db, member.id, now));
  const held = tierByCode(program, s.lifetime_code);
  const current = tierByCode(program, s.tier_code) ?? lowest(program);
  if (earned && (!held || earned.rank > held.rank)) {
    const lifts = current.rank <= earned.rank;
    change(program, ev, now, 'LIFETIME', lifts
      ? { lifetime_code: earned.code, tier_code: earned.code, since: current.code === earned.code ? s.since : now, valid_until: null, grace_until: null }
      : { lifetime_code: earned.code }, `Lifetime ${earned.name}`);
  } else if (held && (!earned || earned.rank < held.rank)) {
    // A refund took lifetime qualifying points back below the threshold.
    const patch: Partial<MemberTierRow> = { lifetime_code: earned?.code ?? null };
    if (s.valid_until === null && current.rank <= held.rank) {
      const m = await repo.metrics(db, member.id, qualificationWindow(program.qualification_window, member.enrolled_at, now), now);
      const target = higher(qualifiedTier(program.tiers, m), earned);
      const floorless = { ...s, lifetime_code: earned?.code ?? null };
      Object.assign(patch, { tier_code: target.code, since: target.code === current.code ? s.since : now, valid_until: validityFor(program, member, floorless, target, now) });
    }
    change(program, ev, now, 'REFUND_REVERSAL', patch, `Lifetime ${held.name} withdrawn`);
  }
}

/**
 * Undoes the latest upgrades whose qualifying activity, as known now (refunds included), no
 * longer met the threshold at the instant of the upgrade. The member returns to the tier and
 * validity held before, or to the tier the remaining activity did support.
 */
async function reverseUnsupportedUpgrades(db: TierReads, member: MemberRow, program: ProgramView, ev: Evolving, now: Date): Promise<void> {
  const s = ev.state;
  const original = s.tier_code;
  const rows = [...ev.history].reverse().concat(await repo.history(db.db, member.id, 50));
  const ignore: TierChangeReason[] = ['REFUND_REVERSAL', 'GRACE_STARTED', 'ASSIGNED', 'ASSIGNMENT_ENDED'];
  for (const row of rows) {
    const to = tierByCode(program, row.to_code) as TierView;
    const held = tierByCode(program, s.tier_code) as TierView;
    if (ignore.includes(row.reason)) continue;
    if (row.reason === 'UPGRADE' && to.rank > held.rank) continue; // already undone
    if (row.reason !== 'UPGRADE' || row.to_code !== s.tier_code) break;
    const at = new Date(row.at);
    const m = await repo.metrics(db, member.id, qualificationWindow(program.qualification_window, member.enrolled_at, at), now);
    if (meetsTier(to, m)) break;
    const from = tierByCode(program, row.from_code) as TierView;
    const target = higher(higher(from, qualifiedTier(program.tiers, m)), tierByCode(program, s.lifetime_code));
    if (target.code === from.code) {
      Object.assign(s, { tier_code: from.code, valid_until: row.previous_valid_until ?? null, since: row.previous_since ?? member.enrolled_at });
    } else {
      Object.assign(s, { tier_code: target.code, since: at });
      break;
    }
  }
  if (s.tier_code !== original) {
    const reverted = { tier_code: s.tier_code, valid_until: s.valid_until, since: s.since };
    Object.assign(s, { tier_code: original });
    change(program, ev, now, 'REFUND_REVERSAL', { ...reverted, grace_until: null }, 'A refund removed the qualifying activity behind an upgrade');
  }
}

/**
 * Plans the write of an evolved state with the unit of work: the row (its final value, once,
 * however often the unit changes it) and its history, and the member's row marked. Lots that
 * fell due while expiry was frozen get new expiry dates at once. Returns whether anything changed.
 */
export async function persist(work: UnitOfWork, program: ProgramView, ev: Evolving): Promise<boolean> {
  if (!ev.changed) return false;
  const now = work.now;
  ev.state.updated_at = now;
  if (ev.history.length > 0) {
    for (const h of ev.history) {
      work.emit('tier.changed', h.member_id, { from: h.from_code, to: h.to_code, reason: h.reason, at: h.at, validUntil: h.valid_until });
    }
    ev.unwrittenHistory = [...(ev.unwrittenHistory ?? []), ...ev.history.map((h) => ({ ...h, created_at: now }))];
    if (!ev.historyPlanned) {
      ev.historyPlanned = true;
      // One insert for all of the unit's history rows, in the order they happened: two inserts
      // in one statement need not run in the order they are written (nor take their seq so).
      work.write(() => {
        const rows = ev.unwrittenHistory ?? [];
        ev.unwrittenHistory = [];
        ev.historyPlanned = false;
        return repo.saveHistory(rows);
      });
    }
  }
  if (!ev.planned) {
    ev.planned = true;
    // Built when the unit writes, so it carries the state as the unit left it.
    work.write(() => {
      ev.planned = false;
      const from = ev.readVersion;
      ev.readVersion = from === null ? 1 : from + 1;
      ev.state.version = ev.readVersion;
      return repo.saveState(ev.state, from);
    });
  }
  const policy = expiryPolicy(program);
  for (const at of ev.freezeLostAt) {
    // Lots that fell due while frozen restart the clock from the moment the freeze ended.
    const renewed = lotExpiry(policy, at, at);
    if (renewed) await work.atOnce((db) => pushOverdueLots(db, ev.state.member_id, at, renewed));
  }
  ev.history = [];
  ev.freezeLostAt = [];
  ev.changed = false;
  return true;
}
