/**
 * Pure ledger rules: point maths, expiry dates, lot allocation, request fingerprints.
 * No I/O here; ledger.core.ts applies them in a unit of work.
 */
import { createHash } from 'node:crypto';
import type { TransactionType } from '../db/schema';
import { BadInputError } from '../errors';
import { mulDivFloor, mulDivRound, toUnits } from '../money';

/** The most points one transaction may move. */
export const MAX_POINTS_PER_TRANSACTION = 10_000_000;

/**
 * The most points a member may earn over its life: the member's totals are 32-bit integers
 * (2,147,483,647), and this leaves room below that for what a total may briefly hold.
 */
export const MAX_LIFETIME_POINTS = 2_000_000_000;

/**
 * What one credit to a member with `lifetimeEarned` may still carry: at most a transaction's
 * worth, and no more than keeps the lifetime total within MAX_LIFETIME_POINTS.
 */
export function creditRoom(lifetimeEarned: number): number {
  return Math.max(0, Math.min(MAX_POINTS_PER_TRANSACTION, MAX_LIFETIME_POINTS - lifetimeEarned));
}

/** BAD_USER_INPUT unless `points` more keep the member's lifetime earnings within MAX_LIFETIME_POINTS. */
export function checkLifetime(lifetimeEarned: number, points: number, field = 'points'): void {
  if (lifetimeEarned + points > MAX_LIFETIME_POINTS) {
    throw new BadInputError(`this would take the member's lifetime points past ${MAX_LIFETIME_POINTS}`, field);
  }
}

export function checkPoints(points: number, field = 'points', { allowNegative = false } = {}): number {
  if (!Number.isInteger(points)) throw new BadInputError(`${field} must be a whole number`, field);
  if (points === 0 || (!allowNegative && points < 0)) {
    throw new BadInputError(`${field} must be ${allowNegative ? 'non-zero' : 'greater than zero'}`, field);
  }
  if (Math.abs(points) > MAX_POINTS_PER_TRANSACTION) {
    throw new BadInputError(`${field} must be at most ${MAX_POINTS_PER_TRANSACTION} in one transaction`, field);
  }
  return points;
}

export type ExpiryMode = 'NONE' | 'FIXED' | 'INACTIVITY';
export interface ExpiryPolicy {
  mode: ExpiryMode;
  months: number | null;
  roundToQuarterEnd: boolean;
}

/** `date` plus `months` calendar months in UTC, clamped to the month's last day (Jan 31 + 1 → Feb 28/29). */
export function addMonths(date: Date, months: number): Date {
  const result = new Date(date.getTime());
  const day = result.getUTCDate();
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate();
  result.setUTCDate(Math.min(day, lastDay));
  return result;
}

/** The first instant after the calendar quarter holding `date` (UTC): points lapse at the quarter's end. */
export function quarterEnd(date: Date): Date {
  const nextQuarterMonth = Math.floor(date.getUTCMonth() / 3) * 3 + 3;
  return new Date(Date.UTC(date.getUTCFullYear(), nextQuarterMonth, 1));
}

/**
 * When a lot earned at `earnedAt` expires: FIXED → earnedAt + months (optionally at that
 * quarter's end); INACTIVITY → lastActivity + months (all lots together); NONE → never.
 */
export function lotExpiry(policy: ExpiryPolicy, earnedAt: Date, lastActivity: Date): Date | null {
  if (policy.mode === 'NONE' || !policy.months) return null;
  if (policy.mode === 'INACTIVITY') return addMonths(lastActivity, policy.months);
  const expires = addMonths(earnedAt, policy.months);
  return policy.roundToQuarterEnd ? quarterEnd(expires) : expires;
}

export interface OpenLot {
  id: string;
  remaining: number;
  expiresAt: Date | null;
  earnedAt: Date;
}

export interface Allocation {
  lotId: string;
  points: number;
}

/** The points `lots` hold between them. */
export function pointsHeld(lots: readonly { remaining: number }[]): number {
  return lots.reduce((sum, lot) => sum + lot.remaining, 0);
}

/** Soonest-expiring first (never-expiring last), then oldest, then by id: deterministic. */
export function consumptionOrder(a: OpenLot, b: OpenLot): number {
  const ae = a.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const be = b.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  if (ae !== be) return ae - be;
  if (a.earnedAt.getTime() !== b.earnedAt.getTime()) return a.earnedAt.getTime() - b.earnedAt.getTime();
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Draws up to `points` from `lots` in consumption order; returns the draws and what was short. */
export function allocate(lots: OpenLot[], points: number): { allocations: Allocation[]; shortfall: number } {
  const allocations: Allocation[] = [];
  let left = points;
  for (const lot of [...lots].sort(consumptionOrder)) {
    if (left === 0) break;
    const take = Math.min(lot.remaining, left);
    if (take > 0) {
      allocations.push({ lotId: lot.id, points: take });
      left -= take;
    }
  }
  return { allocations, shortfall: left };
}

/** Whole points from a money amount: floor(amount × rate × multiplier), exact decimal maths. */
export function pointsForAmount(amount: string, earnRate: string, multiplier: string | number = 1): number {
  return pointsForUnits(toUnits(amount, 2), toUnits(earnRate, 4), multiplierUnits(multiplier));
}

/** An earn multiplier (numeric(6, 3)) in thousandths. */
export function multiplierUnits(multiplier: string | number): bigint {
  return toUnits(typeof multiplier === 'number' ? multiplier.toFixed(3) : multiplier, 3);
}

/** pointsForAmount of figures already in units: the amount in cents, the rate in 10^-4, the multiplier in 10^-3. */
export function pointsForUnits(cents: bigint, rateUnits: bigint, multiplier: bigint): number {
  return Number(mulDivFloor(cents * rateUnits, multiplier, 100n * 10_000n * 1_000n));
}

/**
 * Points a refund claws back. The cumulative clawback after this refund is the order's earned
 * points in proportion to the cumulative refunded share (rounded half up), so partial refunds
 * add up to exactly what the order earned and never more.
 */
export function clawbackFor(orderAmount: string, refundedBefore: string, refundAmount: string, earned: number, reversedBefore: number): number {
  const total = toUnits(orderAmount, 2);
  const after = toUnits(refundedBefore, 2) + toUnits(refundAmount, 2);
  const target = after >= total ? BigInt(earned) : mulDivRound(BigInt(earned), after, total);
  return Math.max(0, Number(target) - reversedBefore);
}

export type TransactionStatus = 'PENDING' | 'AVAILABLE' | 'CANCELLED';

export function transactionStatus(row: { cancelled: boolean; points: number; available_at: Date }, now: Date): TransactionStatus {
  if (row.cancelled) return 'CANCELLED';
  if (row.points > 0 && row.available_at.getTime() > now.getTime()) return 'PENDING';
  return 'AVAILABLE';
}

/** Credits that count toward lifetimeEarned. */
export const EARNING_TYPES: readonly TransactionType[] = ['PURCHASE', 'EARN', 'BONUS', 'TRANSFER_IN'];
/** Movements a member makes themselves: they reset the inactivity-expiry clock. */
export const ACTIVITY_TYPES: readonly TransactionType[] = ['PURCHASE', 'EARN', 'BONUS', 'REDEEM', 'TRANSFER_IN', 'TRANSFER_OUT'];

/**
 * The event a ledger entry of `type` reports (webhooks): earning (purchases, earns, bonuses, the
 * rules' points), redeeming and expiring as the contract names them; every other movement
 * (adjustments, reversals, refund clawbacks, transfers) as points.adjusted.
 */
export function entryEvent(type: TransactionType): string {
  if (type === 'PURCHASE' || type === 'EARN' || type === 'BONUS') return 'points.earned';
  if (type === 'REDEEM') return 'points.redeemed';
  if (type === 'EXPIRE') return 'points.expired';
  return 'points.adjusted';
}

/** A stable fingerprint of a request: same logical request → same hash, whatever the key order. */
export function requestHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
