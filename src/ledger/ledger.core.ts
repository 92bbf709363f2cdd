/**
 * Ledger primitives. Each runs inside a transaction whose caller holds the member's row lock
 * (lockMember), so per-member writes serialise and nothing else does. Every change to lots is
 * matched by ledger rows and member aggregates in the same transaction.
 */
import { randomUUID } from 'node:crypto';
import type { RawBuilder } from 'kysely';
import type { Db } from '../db/database';
import { deferMemberAggregates, holdingWrites } from '../db/deferred';
import type { TransactionType } from '../db/schema';
import { InsufficientPointsError, InvalidStateError, NotFoundError } from '../errors';
import type { MemberRow } from '../members/members.repo';
import * as members from '../members/members.repo';
import { isUuid } from '../members/members.rules';
import type { ProgramView } from '../program/program.types';
import * as repo from './ledger.repo';
import { awardsBonuses, expiryFrozen, onQualifyingPointsChanged, type PurchaseMetricsRead } from '../tiers/tiers.service';
import { stateReadWithLock } from '../tiers/tiers.engine';
import { countUnwritten, metricsOfRow, stateFromJson, written } from '../tiers/tiers.repo';
import { rememberLots, rememberMetrics, takeLots } from './prefetch';
import { ACTIVITY_TYPES, EARNING_TYPES, allocate, consumptionOrder, lotExpiry, type ExpiryPolicy } from './ledger.rules';
import type { TransactionRow } from './ledger.types';

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
}

export function expiryPolicy(program: ProgramView): ExpiryPolicy {
  return { mode: program.expiry_mode, months: program.expiry_months, roundToQuarterEnd: program.round_to_quarter_end };
}

/** Locks and returns the member, NOT_FOUND if absent; `active` also demands status ACTIVE. */
export async function lockMember(tx: Db, id: string, options: LockOptions = {}): Promise<MemberRow> {
  return (await lockMemberProbing(tx, id, options)).member;
}

export interface LockOptions {
  active?: boolean;
  /** With `now`, the lock also reports whether any lot is due, so settleExpiry can skip its read. */
  now?: Date;
  /**
   * A yes/no question answered in the same round trip as the lock, such as "is this order
   * already recorded?". It is read from the statement's snapshot, which a writer that held the
   * lock before us may have outdated: use it only where a stale "no" fails later on a unique
   * constraint (and is retried by inTransaction), never for balances.
   */
  probe?: RawBuilder<boolean>;
  /** With `now`, also read the lots spendable then, for a debit to draw from (see below). */
  lots?: boolean;
  /** Also read the stored tier state, for the tier engine. */
  tierState?: boolean;
  /** Also read the tier metrics of this window at this instant, for the tier engine's check of a purchase (tiers.service purchaseMetricsRead). */
  metrics?: PurchaseMetricsRead;
}

/**
 * lockMember, also returning the answer to `options.probe` (false when none was asked).
 *
 * Lots and tier state read in the lock's own statement come from its snapshot, taken before any
 * wait for the lock. They are kept only when the row locked is the version that snapshot saw:
 * every change to a member's lots or tier state also writes the member's row in the same
 * transaction (db/deferred.ts), so an unchanged row means nothing of the member's changed in
 * between. Otherwise they are dropped and read again, after the lock, where they are needed.
 */
export async function lockMemberProbing(
  tx: Db, id: string, { active = true, now, probe, lots, tierState, metrics }: LockOptions = {},
): Promise<{ member: MemberRow; probed: boolean }> {
  const lotsAt = lots ? now : undefined;
  const locked = isUuid(id) ? await members.lockById(tx, id, { dueAt: now, probe, lotsAt, tierState, metrics }) : undefined;
  if (!locked) throw new NotFoundError('Member');
  const { has_due_lots: hasDue, probed, unchanged, open_lots: openLots, tier_state: state, window_metrics: windowMetrics, ...member } = locked;
  if (hasDue === false) nothingDue.add(member);
  if (unchanged === true) {
    if (lotsAt) rememberLots(tx, member.id, lotsAt, ((openLots ?? []) as LotJson[]).map(lotFromJson));
    if (tierState) stateReadWithLock(member, state ? stateFromJson(state) : null);
    if (metrics && windowMetrics) rememberMetrics(tx, member.id, metrics.window, metrics.knownAt, metricsOfRow(windowMetrics));
  }
  if (active) requireActive(member);
  return { member, probed: probed === true };
}

interface LotJson { id: string; remaining: number; expires_at: string | null; earned_at: string }
const lotFromJson = (l: LotJson) => ({
  id: l.id, remaining: l.remaining, expiresAt: l.expires_at === null ? null : new Date(l.expires_at), earnedAt: new Date(l.earned_at),
});

// Rows locked with `now` whose lock statement found no lot past its expiry: settleExpiry need
// not look again within that transaction (lots written later in it are not yet due).
const nothingDue = new WeakSet<MemberRow>();

/** INVALID_STATE unless the member may move points. */
export function requireActive(member: MemberRow): MemberRow {
  if (member.status !== 'ACTIVE') throw new InvalidStateError(`Member is ${member.status.toLowerCase()}: points cannot move`);
  return member;
}

/**
 * Locks several members in id order, so two transfers in opposite directions cannot deadlock.
 * The probe, if any, rides on the first lock.
 */
export async function lockMembers(tx: Db, ids: string[], { probe, ...options }: LockOptions = {}): Promise<{ locked: Map<string, MemberRow>; probed: boolean }> {
  const locked = new Map<string, MemberRow>();
  let probed = false;
  for (const [i, id] of [...new Set(ids)].sort().entries()) {
    const result = await lockMemberProbing(tx, id, { ...options, ...(i === 0 ? { probe } : {}) });
    locked.set(id, result.member);
    if (i === 0) probed = result.probed;
  }
  return { locked, probed };
}

/**
 * Moves the locked member's aggregates in place and queues the row's write for the
 * transaction's next ledger statement (db/deferred.ts): no round trip of its own.
 */
function applyAggregates(tx: Db, member: MemberRow, d: { debt?: number; lifetimeEarned?: number; lifetimeRedeemed?: number; expired?: number; lastActivityAt?: Date; now: Date }): void {
  member.debt += d.debt ?? 0;
  member.lifetime_earned += d.lifetimeEarned ?? 0;
  member.lifetime_redeemed += d.lifetimeRedeemed ?? 0;
  member.expired += d.expired ?? 0;
  if (d.lastActivityAt) member.last_activity_at = d.lastActivityAt;
  member.updated_at = d.now;
  deferMemberAggregates(tx, member);
}

/**
 * Writes EXPIRE entries for every lot whose expiry has passed, one entry per expiry instant,
 * each lot exactly once (a unique index on its EXPIRE allocation backs this up).
 */
export async function settleExpiry(tx: Db, member: MemberRow, program: ProgramView, now: Date): Promise<number> {
  if (nothingDue.has(member)) return 0;
  if (await expiryFrozen(tx, member, program, now)) return 0;
  const due = await repo.dueLots(tx, member.id, now);
  if (due.length === 0) return 0;
  const byInstant = new Map<number, typeof due>();
  for (const lot of due) {
    const at = (lot.expires_at as Date).getTime();
    byInstant.set(at, [...(byInstant.get(at) ?? []), lot]);
  }
  const total = due.reduce((sum, lot) => sum + lot.remaining, 0);
  applyAggregates(tx, member, { expired: total, now });
  for (const [at, lots] of byInstant) {
    const points = lots.reduce((sum, lot) => sum + lot.remaining, 0);
    await repo.insertDebit(tx, {
      id: randomUUID(), member_id: member.id, type: 'EXPIRE', points: -points, available_at: new Date(at),
      description: 'Points expired', actor: 'system', occurred_at: new Date(at), created_at: now,
    }, 'EXPIRE', lots.map((lot) => ({ lotId: lot.id, points: lot.remaining })));
  }
  return total;
}

export interface CreditOptions {
  /**
   * Nothing follows this entry in the caller's transaction: when the credit itself needs no
   * further statement, its statement carries the COMMIT (db/transaction.ts executeLast).
   */
  last?: boolean;
  /**
   * The purchase this credit records (its order is written in the same transaction). With
   * `last`, the tier engine then judges the purchase before its statement, counting it as
   * unwritten activity (tiers.repo countUnwritten), so the statement can carry the COMMIT.
   */
  purchase?: { spendCents: number };
  availableAt?: Date;
  /** The lots to create (default: one lot of posting.points with the policy expiry). */
  lots?: { points: number; expiresAt: Date | null }[];
}

/**
 * Credits points as new lots. Points owed from an earlier clawback (debt) are paid from the
 * new lots first. Earning types add to lifetimeEarned; activity moves the inactivity clock.
 */
export async function credit(
  tx: Db, member: MemberRow, program: ProgramView, now: Date, posting: Posting, options: CreditOptions = {},
): Promise<TransactionRow> {
  const occurredAt = posting.occurredAt ?? now;
  const availableAt = options.availableAt ?? now;
  const activity = ACTIVITY_TYPES.includes(posting.type);
  const policy = expiryPolicy(program);
  // Under the inactivity policy a non-activity credit (adjustment, reversal) joins the clock the
  // member's last activity set; it does not reset it.
  const lastActivity = activity ? now : (member.last_activity_at ?? now);
  const planned = options.lots ?? [{ points: posting.points, expiresAt: lotExpiry(policy, occurredAt, lastActivity) }];
  // Debt is paid only from points spendable now: a pending lot must not lift `available` early.
  let owed = availableAt.getTime() <= now.getTime() ? member.debt : 0;
  const lots = planned.map((lot) => {
    const pay = Math.min(owed, lot.points);
    owed -= pay;
    return { id: randomUUID(), memberId: member.id, points: lot.points, remaining: lot.points - pay, availableAt, expiresAt: lot.expiresAt, earnedAt: occurredAt, pay };
  });
  const debtPaid = lots.filter((lot) => lot.pay > 0).map((lot) => ({ lotId: lot.id, points: lot.pay }));
  const paid = debtPaid.reduce((sum, d) => sum + d.points, 0);
  // Queued before the entry is written, so the entry's statement carries the member's write.
  applyAggregates(tx, member, {
    debt: -paid,
    lifetimeEarned: EARNING_TYPES.includes(posting.type) || posting.type === 'ADJUST' ? posting.points : 0,
    lifetimeRedeemed: posting.type === 'REVERSAL' ? -posting.points : 0,
    lastActivityAt: activity ? now : undefined,
    now,
  });
  const inactivity = activity && policy.mode === 'INACTIVITY';
  // Bonuses the activity may earn are credits of their own, written after the activity's entry:
  // with bonuses configured the engine runs after the entry, as for any other credit.
  const tierFirst = options.last === true && options.purchase !== undefined && !!posting.qualifyingPoints && !awardsBonuses(program);
  if (tierFirst) {
    countUnwritten(tx, member.id, {
      points: posting.qualifyingPoints as number, spendCents: options.purchase?.spendCents ?? 0, purchase: true, occurredAt, createdAt: now,
    });
    // The order row queued by the caller names this entry: it rides on the entry's statement.
    await holdingWrites(tx, () => onQualifyingPointsChanged(tx, member, program, now, posting.qualifyingPoints));
  }
  const last = options.last === true && debtPaid.length === 0 && !inactivity && (tierFirst || !posting.qualifyingPoints);
  const txn = await repo.insertCredit(tx, {
    id: posting.id ?? randomUUID(), member_id: member.id, type: posting.type, points: posting.points,
    qualifying_points: posting.qualifyingPoints ?? 0, available_at: availableAt,
    description: posting.description ?? null, order_id: posting.orderId ?? null, partner_id: posting.partnerId ?? null,
    actor: posting.actor, related_id: posting.relatedId ?? null, occurred_at: occurredAt, created_at: now,
  }, lots, { last });
  if (tierFirst) written(tx, member.id);
  await repo.insertAllocations(tx, member.id, txn.id, 'DEBT', debtPaid);
  if (inactivity) await repo.setOpenLotsExpiry(tx, member.id, lotExpiry(policy, now, now) as Date);
  if (posting.qualifyingPoints && !tierFirst) await onQualifyingPointsChanged(tx, member, program, now, posting.qualifyingPoints);
  return txn;
}

export interface DebitOptions {
  /** STRICT fails with INSUFFICIENT_POINTS; CLAWBACK takes what is there and records the rest. */
  mode: 'STRICT' | 'CLAWBACK';
  allowNegative?: boolean;
  /** Draw from these lots first (a refund inside the pending window takes its own pending lot). */
  preferLots?: { id: string; remaining: number; expiresAt: Date | null; earnedAt: Date }[];
  /** As CreditOptions.last. */
  last?: boolean;
}

/**
 * Takes points from spendable lots, soonest-expiring first, recording each draw. Available is
 * spendable lots minus debt, so a STRICT debit never takes available below zero.
 */
export async function debit(
  tx: Db, member: MemberRow, program: ProgramView, now: Date, posting: Posting, options: DebitOptions,
): Promise<TransactionRow> {
  const preferred = options.preferLots ?? [];
  const open = takeLots(tx, member.id, now) ?? (await repo.spendableLots(tx, member.id, now));
  const lots = open.filter((l) => !preferred.some((p) => p.id === l.id));
  const spendable = lots.reduce((sum, lot) => sum + lot.remaining, 0);
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
  const policy = expiryPolicy(program);
  const inactivity = activity && policy.mode === 'INACTIVITY';
  const last = options.last === true && !inactivity && !posting.qualifyingPoints;
  applyAggregates(tx, member, {
    debt: intoDebt,
    lifetimeRedeemed: posting.type === 'REDEEM' ? taken : 0,
    lifetimeEarned: posting.type === 'REFUND' ? -posting.points : 0,
    lastActivityAt: activity ? now : undefined,
    now,
  });
  const txn = await repo.insertDebit(tx, {
    id: posting.id ?? randomUUID(), member_id: member.id, type: posting.type, points: -(taken + intoDebt),
    qualifying_points: -(posting.qualifyingPoints ?? 0), shortfall, available_at: now,
    description: posting.description ?? null, order_id: posting.orderId ?? null, partner_id: posting.partnerId ?? null,
    actor: posting.actor, related_id: posting.relatedId ?? null, occurred_at: occurredAt, created_at: now,
  }, 'DEBIT', allocations, { last });
  if (inactivity) await repo.setOpenLotsExpiry(tx, member.id, lotExpiry(policy, now, now) as Date);
  if (posting.qualifyingPoints) await onQualifyingPointsChanged(tx, member, program, now, -posting.qualifyingPoints);
  return txn;
}

/** Leaves `debt` points in the latest-consumed lots untouched, so draws never eat into what is owed. */
function trimForDebt<L extends { remaining: number; expiresAt: Date | null; earnedAt: Date; id: string }>(lots: L[], debt: number): L[] {
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
