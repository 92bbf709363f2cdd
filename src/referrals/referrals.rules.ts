/**
 * The referral decisions, pure: who may refer whom, what the referee's first purchase does to a
 * pending referral, and what a refund of that purchase does to a rewarded one. No I/O here:
 * referrals.service.ts reads what these need and plans what they decide.
 */
import type { ReferralStatus } from '../db/schema';
import type { ProgramView } from '../program/program.types';

/** What the programme pays for a referral (Program.referral). */
export interface ReferralSettings {
  referrerPoints: number;
  refereePoints: number;
  /** Rewarded referrals a referrer may have at most; null: no cap. */
  maxPerReferrer: number | null;
}

export function referralSettings(program: ProgramView): ReferralSettings {
  return {
    referrerPoints: program.referral_referrer_points,
    refereePoints: program.referral_referee_points,
    maxPerReferrer: program.referral_max_per_referrer,
  };
}

/**
 * Why `referrer` may not refer a new member with `email`, or null when it may: the same e-mail
 * address, in any case, is a member referring itself. Without an address on either side there is
 * nothing to compare, and the referral stands.
 */
export function selfReferral(referrerEmail: string | null, email: string | null): string | null {
  if (!referrerEmail || !email) return null;
  return referrerEmail.trim().toLowerCase() === email.trim().toLowerCase() ? 'A member cannot refer itself' : null;
}

/** What the referee's first purchase decides for a referral. */
export interface FirstPurchaseDecision {
  status: 'REWARDED' | 'CAPPED';
  referrerPoints: number;
  refereePoints: number;
}

export interface FirstPurchaseFacts {
  /** The referral's status as it stands under the unit's guard. */
  status: ReferralStatus;
  settings: ReferralSettings;
  /** The referrer's referrals that hold a place under the cap: REWARDED and REVERSED ones. */
  placed: number;
  /** Whether the referrer may earn (ACTIVE). */
  referrerActive: boolean;
  /** Points each side may still be credited (ledger.rules creditRoom): a bonus never fails the purchase. */
  referrerRoom: number;
  refereeRoom: number;
}

/**
 * The referee's first purchase: a PENDING referral is CAPPED (nobody credited) when the referrer
 * already has maxPerReferrer referrals placed, REWARDED otherwise. A referrer who may not earn
 * (suspended, closed) is credited nothing while the referee still gets its bonus, and the
 * referral takes its place. Anything but PENDING was decided already: null, nothing changes.
 */
export function onFirstPurchase(f: FirstPurchaseFacts): FirstPurchaseDecision | null {
  if (f.status !== 'PENDING') return null;
  const max = f.settings.maxPerReferrer;
  if (max !== null && f.placed >= max) return { status: 'CAPPED', referrerPoints: 0, refereePoints: 0 };
  return {
    status: 'REWARDED',
    referrerPoints: f.referrerActive ? Math.min(f.settings.referrerPoints, f.referrerRoom) : 0,
    refereePoints: Math.min(f.settings.refereePoints, f.refereeRoom),
  };
}

export interface RefundFacts {
  status: ReferralStatus;
  /** Whether the refunded order is the purchase that decided the referral. */
  decidingOrder: boolean;
  /** Whether this refund leaves nothing of that order to refund. */
  fullyRefunded: boolean;
}

/**
 * A refund of the purchase that rewarded the referral: the one that leaves nothing of it to
 * refund reverses the referral (both bonuses are taken back); a partial one changes nothing.
 * A REVERSED referral keeps its place under the cap (onFirstPurchase counts it).
 */
export function onRefund(f: RefundFacts): 'REVERSED' | null {
  return f.status === 'REWARDED' && f.decidingOrder && f.fullyRefunded ? 'REVERSED' : null;
}

/** The statuses that hold a place under a referrer's cap. */
export const PLACED_STATUSES: readonly ReferralStatus[] = ['REWARDED', 'REVERSED'];
