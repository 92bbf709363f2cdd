/**
 * How points move, planned on a unit of work (unit-of-work.ts): credits as new lots, debits as
 * draws on lots, each matched by a ledger entry and the member's aggregates. No SQL here: the
 * unit writes what these plan.
 */
import { randomUUID } from 'node:crypto';
import type { TransactionType } from '../db/schema';
import { InsufficientPointsError, InvalidStateError } from '../errors';
import type { MemberRow } from '../db/rows';
import type { ProgramView } from '../program/program.types';
import { ACTIVITY_TYPES, EARNING_TYPES, allocate, checkLifetime, consumptionOrder, lotExpiry, pointsHeld, type ExpiryPolicy, type OpenLot } from './ledger.rules';
import type { RuleAwardRecord, TransactionRow } from './ledger.types';
import type { UnitOfWork } from './unit-of-work';
import { allocationsOf, reversalOf } from './ledger.repo';
import { dueLots, setOpenLotsExpiry } from './unit-of-work.repo';

export interface Posting {
  /** The entry's id when the caller must know it beforehand (an idempotency record, an order). */
  id?: string;
  type: TransactionType;
  /** Unsigned amount; credit() adds it, debit() takes it. */
  points: number;
  qualifyingPoints?: number;
  description?: string | null;
  orderId?: string | null;
  partnerId?: string | null;
  actor: string;
  relatedId?: string | null;
  occurredAt?: Date;
  /** The earning rules that gave a credit its points, recorded with the entry. */
  ruleAwards?: readonly RuleAwardRecord[];
}

export function expiryPolicy(program: ProgramView): ExpiryPolicy {
  return { mode: program.expiry_mode, months: program.expiry_months, roundToQuarterEnd: program.round_to_quarter_end };
}

export interface CreditOptions {
  availableAt?: Date;
  /** The lots to create (default: one lot of posting.points with the policy expiry). */
  lots?: { points: number; expiresAt: Date | null }[];
  /** The purchase this credit records: its spend counts toward status with its qualifying points. */
  purchase?: { spendCents: number };
}

/**
 * Credits points as new lots. Points owed from an earlier clawback (debt) are paid from the
 * new lots first. Earning types add to lifetimeEarned; activity moves the inactivity clock.
 */
export async function credit(work: UnitOfWork, member: MemberRow, posting: Posting, options: CreditOptions = {}): Promise<TransactionRow> {
  const now = work.now;
  const occurredAt = posting.occurredAt ?? now;
  const availableAt = options.availableAt ?? now;
  const activity = ACTIVITY_TYPES.includes(posting.type);
  const policy = expiryPolicy(work.program);
  // Under the inactivity policy a non-activity credit (adjustment, reversal) joins the clock the
  // member's last activity set; it does not reset it.
  const lastActivity = activity ? now : (member.last_activity_at ?? now);
  if (EARNING_TYPES.includes(posting.type) || posting.type === 'ADJUST') checkLifetime(member.lifetime_earned, posting.points, posting.type === 'PURCHASE' ? 'amount' : 'points');
  const planned = options.lots ?? [{ points: posting.points, expiresAt: lotExpiry(policy, occurredAt, lastActivity) }];
  // Debt is paid only from points spendable now: a pending lot must not lift `available` early.
  let owed = availableAt.getTime() <= now.getTime() ? member.debt : 0;
  const lots = planned.map((lot) => {
    const pay = Math.min(owed, lot.points);
    owed -= pay;
    return { id: randomUUID(), points: lot.points, remaining: lot.points - pay, expiresAt: lot.expiresAt, pay };
  });
  const paid = lots.reduce((sum, lot) => sum + lot.pay, 0);
  member.debt -= paid;
  if (EARNING_TYPES.includes(posting.type) || posting.type === 'ADJUST') member.lifetime_earned += posting.points;
  if (posting.type === 'REVERSAL') member.lifetime_redeemed -= posting.points;
  if (activity) member.last_activity_at = now;
  member.updated_at = now;
  work.changed(member);
  const entry = work.entry({
    id: posting.id ?? randomUUID(), member_id: member.id, type: posting.type, points: posting.points,
    qualifying_points: posting.qualifyingPoints ?? 0, shortfall: 0, available_at: availableAt,
    description: posting.description ?? null, order_id: posting.orderId ?? null, partner_id: posting.partnerId ?? null,
    actor: posting.actor, related_id: posting.relatedId ?? null, occurred_at: occurredAt, created_at: now,
    ...(posting.ruleAwards?.length ? { rule_awards: JSON.stringify(posting.ruleAwards) } : {}),
  });
  for (const lot of lots) {
    work.lot({
      id: lot.id, member_id: member.id, txn_id: entry.id, points: lot.points, remaining: lot.remaining,
      available_at: availableAt, expires_at: lot.expiresAt, earned_at: occurredAt,
    });
    if (lot.pay > 0) work.draw(member.id, entry.id, { lotId: lot.id, points: lot.pay }, 'DEBT');
  }
  // Noted with the entry, before anything writes the plan early: what is written is no longer unwritten.
  if (posting.qualifyingPoints) {
    work.noteActivity(member.id, {
      points: posting.qualifyingPoints, spendCents: options.purchase?.spendCents ?? 0, purchase: options.purchase !== undefined,
      occurredAt, createdAt: now, countable: true,
    });
  }
  if (activity && policy.mode === 'INACTIVITY') await moveInactivityClock(work, member);
  return entry;
}

export interface DebitOptions {
  /** STRICT fails with INSUFFICIENT_POINTS; CLAWBACK takes what is there and records the rest. */
  mode: 'STRICT' | 'CLAWBACK';
  allowNegative?: boolean;
  /** Draw from these lots first (a refund inside the pending window takes its own pending lot). */
  preferLots?: OpenLot[];
}

/**
 * Takes points from spendable lots, soonest-expiring first, recording each draw. Available is
 * spendable lots minus debt, so a STRICT debit never takes available below zero.
 */
export async function debit(work: UnitOfWork, member: MemberRow, posting: Posting, options: DebitOptions): Promise<TransactionRow> {
  const now = work.now;
  const preferred = options.preferLots ?? [];
  // Plain, the debit needs only the lots it would draw on first; with lots preferred or a debt
  // held back from the last to expire (trimForDebt), it needs every one.
  const plain = preferred.length === 0 && member.debt === 0;
  const { lots: known, total } = await work.lotsCovering(member.id, plain ? posting.points : Number.POSITIVE_INFINITY);
  const lots = known.filter((l) => !preferred.some((p) => p.id === l.id));
  const spendable = lots.length === known.length ? total : pointsHeld(lots);
  const fromPreferred = allocate(preferred, posting.points);
  const needed = fromPreferred.shortfall;
  const available = spendable - member.debt;
  if (options.mode === 'STRICT' && needed > available) throw new InsufficientPointsError(Math.max(available, 0), posting.points);
  // Points owed as debt are not spendable: only what exceeds the debt can be drawn.
  const drawable = lots.length > 0 && member.debt > 0 ? trimForDebt(lots, member.debt) : lots;
  const fromGeneral = allocate(drawable, needed);
  const allocations = [...fromPreferred.allocations, ...fromGeneral.allocations];
  const taken = allocations.reduce((sum, a) => sum + a.points, 0);
  const uncovered = posting.points - taken;
  const intoDebt = options.mode === 'CLAWBACK' && options.allowNegative ? uncovered : 0;
  const shortfall = uncovered - intoDebt;
  const activity = ACTIVITY_TYPES.includes(posting.type);
  const occurredAt = posting.occurredAt ?? now;
  member.debt += intoDebt;
  if (posting.type === 'REDEEM') member.lifetime_redeemed += taken;
  if (posting.type === 'REFUND') member.lifetime_earned -= posting.points;
  if (activity) member.last_activity_at = now;
  member.updated_at = now;
  work.changed(member);
  const entry = work.entry({
    id: posting.id ?? randomUUID(), member_id: member.id, type: posting.type, points: -(taken + intoDebt),
    qualifying_points: -(posting.qualifyingPoints ?? 0), shortfall, available_at: now,
    description: posting.description ?? null, order_id: posting.orderId ?? null, partner_id: posting.partnerId ?? null,
    actor: posting.actor, related_id: posting.relatedId ?? null, occurred_at: occurredAt, created_at: now,
  });
  for (const a of allocations) work.draw(member.id, entry.id, a, 'DEBIT');
  if (posting.qualifyingPoints) {
    // A refund counts against the window of the purchase it refunds: the status engine reads it written.
    work.noteActivity(member.id, { points: -posting.qualifyingPoints, spendCents: 0, purchase: false, occurredAt, createdAt: now, countable: false });
  }
  if (activity && expiryPolicy(work.program).mode === 'INACTIVITY') await moveInactivityClock(work, member);
  return entry;
}

/** Under the inactivity policy every open lot shares one expiry, last activity + months: activity moves it. */
async function moveInactivityClock(work: UnitOfWork, member: MemberRow): Promise<void> {
  const expiresAt = lotExpiry(expiryPolicy(work.program), work.now, work.now) as Date;
  await work.atOnce((db) => setOpenLotsExpiry(db, member.id, expiresAt));
}

/** Leaves `debt` points in the latest-consumed lots untouched, so draws never eat into what is owed. */
function trimForDebt<L extends OpenLot>(lots: L[], debt: number): L[] {
  const ordered = [...lots].sort(consumptionOrder);
  let reserve = debt;
  const result: L[] = [];
  for (let i = ordered.length - 1; i >= 0; i--) {
    const lot = ordered[i] as L;
    const keep = Math.min(reserve, lot.remaining);
    reserve -= keep;
    if (lot.remaining - keep > 0) result.unshift({ ...lot, remaining: lot.remaining - keep });
  }
  return result;
}

/**
 * Gives back what a redemption drew, once: each lot it drew from comes back as a new lot with
 * that lot's original expiry (under INACTIVITY, the member's shared one), or a fresh policy
 * expiry where that has passed. The REVERSAL entry names the redemption and keeps its partner.
 */
export async function returnRedemption(
  work: UnitOfWork, member: MemberRow, original: TransactionRow, posting: { description: string; actor: string },
): Promise<TransactionRow> {
  const now = work.now;
  if (member.status === 'CLOSED') throw new InvalidStateError('Member is closed: points cannot move');
  if (await reversalOf(work.db, member.id, original.id)) throw new InvalidStateError('This redemption was already reversed');
  const policy = expiryPolicy(work.program);
  // Under INACTIVITY every open lot shares one expiry (last activity + months), while a lot
  // drawn empty kept the expiry it had then: the returned points join the member's clock.
  const shared = lotExpiry(policy, now, member.last_activity_at ?? now);
  const passed = (date: Date | null) => date !== null && date.getTime() <= now.getTime();
  const lots = (await allocationsOf(work.db, original.id)).map((draw) => {
    const kept = policy.mode === 'INACTIVITY' ? shared : draw.expires_at;
    return { points: draw.points, expiresAt: passed(kept) ? lotExpiry(policy, now, now) : kept };
  });
  if (lots.length === 0) throw new InvalidStateError('This redemption drew no points');
  return credit(work, member, {
    type: 'REVERSAL', points: -original.points, description: posting.description,
    actor: posting.actor, relatedId: original.id, partnerId: original.partner_id,
  }, { lots });
}

/**
 * Writes EXPIRE entries for every lot whose expiry has passed, one entry per expiry instant,
 * each lot exactly once (a unique index on its EXPIRE allocation backs this up). Every unit
 * does this for its members before its operation decides.
 */
export async function settleExpiry(work: UnitOfWork, member: MemberRow): Promise<number> {
  if (!work.mayHaveDueLots(member.id)) return 0;
  if (await work.status.expiryFrozen(work, member)) return 0;
  const due = await dueLots(work.db, member.id, work.now);
  if (due.length === 0) return 0;
  const byInstant = new Map<number, typeof due>();
  for (const lot of due) {
    const at = (lot.expires_at as Date).getTime();
    byInstant.set(at, [...(byInstant.get(at) ?? []), lot]);
  }
  const total = pointsHeld(due);
  work.settled.set(member.id, (work.settled.get(member.id) ?? 0) + total);
  member.expired += total;
  member.updated_at = work.now;
  work.changed(member);
  for (const [at, lots] of byInstant) {
    const points = pointsHeld(lots);
    const id = randomUUID();
    work.entry({
      id, member_id: member.id, type: 'EXPIRE', points: -points, available_at: new Date(at),
      description: 'Points expired', actor: 'system', occurred_at: new Date(at), created_at: work.now,
    });
    for (const lot of lots) work.draw(member.id, id, { lotId: lot.id, points: lot.remaining }, 'EXPIRE');
  }
  return total;
}
