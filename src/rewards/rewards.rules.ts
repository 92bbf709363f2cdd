/**
 * The rewards catalogue's decisions, without I/O: what a reward's terms may be, whether a member
 * may redeem it now, how a voucher code is made and read back.
 */
import type { Actor } from '../context';
import type { RedemptionStatus, RewardType } from '../db/schema';
import { AppError, BadInputError, ForbiddenError, InvalidStateError, OutOfStockError } from '../errors';
import { checkPoints } from '../ledger/ledger.rules';

export const REWARD_TYPES: readonly RewardType[] = ['VOUCHER', 'DISCOUNT', 'FREE_PRODUCT', 'PARTNER'];
const CODE = /^[A-Za-z0-9_-]{1,64}$/;
const PARTNER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/;
const MAX_STOCK = 1_000_000_000;
const MAX_PER_MEMBER = 1_000_000;

export interface RewardInput {
  code: string;
  name: string;
  description?: string | null;
  pointsCost: number;
  type: RewardType;
  stock?: number | null;
  perMemberLimit?: number | null;
  minTierRank?: number | null;
  validFrom?: Date | null;
  validUntil?: Date | null;
  active?: boolean | null;
  partnerId?: string | null;
}

/** A reward's terms as stored. */
export interface RewardTerms {
  code: string;
  name: string;
  description: string | null;
  points_cost: number;
  type: RewardType;
  stock: number | null;
  per_member_limit: number | null;
  min_tier_rank: number | null;
  valid_from: Date | null;
  valid_until: Date | null;
  active: boolean;
  partner_id: string | null;
}

function wholeBetween(value: number | null | undefined, field: string, min: number, max: number): number | null {
  if (value === null || value === undefined) return null;
  if (!Number.isInteger(value) || value < min || value > max) throw new BadInputError(`${field} must be a whole number from ${min} to ${max}`, field);
  return value;
}

/** The terms of `input`, checked; BAD_USER_INPUT naming the first field that is wrong. */
export function checkReward(input: RewardInput): RewardTerms {
  const code = input.code.trim();
  if (!CODE.test(code)) throw new BadInputError('code must be 1-64 letters, digits, _ or -', 'code');
  const name = input.name.trim();
  if (name.length < 1 || name.length > 200) throw new BadInputError('name must be 1-200 characters', 'name');
  const description = input.description?.trim() || null;
  if (description !== null && description.length > 2000) throw new BadInputError('description must be at most 2000 characters', 'description');
  if (!REWARD_TYPES.includes(input.type)) throw new BadInputError(`type must be one of ${REWARD_TYPES.join(', ')}`, 'type');
  const validFrom = input.validFrom ?? null;
  const validUntil = input.validUntil ?? null;
  if (validFrom && validUntil && validFrom.getTime() >= validUntil.getTime()) throw new BadInputError('validUntil must be after validFrom', 'validUntil');
  const partnerId = input.partnerId?.trim() || null;
  if (partnerId !== null && !PARTNER_ID.test(partnerId)) throw new BadInputError('partnerId must be 1-100 letters, digits, _ . : or -', 'partnerId');
  return {
    code: code.toUpperCase(), name, description,
    points_cost: checkPoints(input.pointsCost, 'pointsCost'), type: input.type,
    stock: wholeBetween(input.stock, 'stock', 0, MAX_STOCK),
    per_member_limit: wholeBetween(input.perMemberLimit, 'perMemberLimit', 1, MAX_PER_MEMBER),
    min_tier_rank: wholeBetween(input.minTierRank, 'minTierRank', 0, 1000),
    valid_from: validFrom, valid_until: validUntil, active: input.active ?? true, partner_id: partnerId,
  };
}

/** What a reward holds of its stock. */
export interface RewardStock { stock: number | null; issued: number }

/** Vouchers still to issue; null = unlimited. */
export function remaining({ stock, issued }: RewardStock): number | null {
  return stock === null ? null : Math.max(0, stock - issued);
}

/** Whether the reward is on offer at `now`: active and within its window. */
export function onOffer(reward: Pick<RewardTerms, 'active' | 'valid_from' | 'valid_until'>, now: Date): boolean {
  return reward.active
    && (reward.valid_from === null || reward.valid_from.getTime() <= now.getTime())
    && (reward.valid_until === null || reward.valid_until.getTime() > now.getTime());
}

export interface RedeemSituation {
  reward: Pick<RewardTerms, 'active' | 'valid_from' | 'valid_until' | 'min_tier_rank' | 'per_member_limit'> & RewardStock;
  now: Date;
  /** The member's tier rank now (read only when the reward is tier-gated). */
  tierRank: number | null;
  /** The member's vouchers of this reward that are not cancelled. */
  held: number;
}

/**
 * Why the member may not redeem the reward now, or null when it may (its points are the ledger's
 * to check). In this order: not on offer, tier too low, the member's limit reached, no stock.
 */
export function redeemRefusal({ reward, now, tierRank, held }: RedeemSituation): AppError | null {
  if (!onOffer(reward, now)) return new InvalidStateError('This reward is not on offer now');
  if (reward.min_tier_rank !== null && (tierRank ?? -Infinity) < reward.min_tier_rank) {
    return new ForbiddenError(`This reward needs a tier of rank ${reward.min_tier_rank} or higher`);
  }
  if (reward.per_member_limit !== null && held >= reward.per_member_limit) {
    return new InvalidStateError(`This member already holds ${held} of this reward, its limit`);
  }
  if (remaining(reward) === 0) return new OutOfStockError('This reward is out of stock');
  return null;
}

/** A voucher's status at `now`: an ISSUED one past its end is EXPIRED, whether or not the maintenance pass has marked it yet. */
export function voucherStatus(v: { status: RedemptionStatus; valid_until: Date | null }, now: Date): RedemptionStatus {
  return v.status === 'ISSUED' && v.valid_until !== null && v.valid_until.getTime() <= now.getTime() ? 'EXPIRED' : v.status;
}

/**
 * What marking a voucher used (`use`) or cancelling it (`cancel`) does to a voucher with `status`
 * (voucherStatus): change it, answer it as it is (done already), or refuse.
 */
export function voucherChange(change: 'use' | 'cancel', status: RedemptionStatus): 'change' | 'unchanged' | AppError {
  if (status === 'ISSUED') return 'change';
  if (status === (change === 'use' ? 'USED' : 'CANCELLED')) return 'unchanged';
  return new InvalidStateError(`This voucher is ${status.toLowerCase()}: it cannot be ${change === 'use' ? 'used' : 'cancelled'}`);
}

/**
 * Whether `actor` may see a voucher: an ADMIN; the MEMBER who holds it; a PARTNER that redeemed it
 * or fulfils its reward.
 */
export function seesVoucher(actor: Actor, v: { member_id: string; partner_id: string | null }, rewardPartnerId: string | null): boolean {
  if (actor.role === 'ADMIN') return true;
  if (actor.role === 'MEMBER') return actor.memberId?.toLowerCase() === v.member_id;
  return actor.partnerId !== undefined && (v.partner_id === actor.partnerId || rewardPartnerId === actor.partnerId);
}

// Crockford's base 32: no I, L, O or U, so a code read aloud or typed is not misread.
const VOUCHER_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Random bytes a voucher code carries: 80 bits. */
export const VOUCHER_BYTES = 10;

/** A voucher code from 10 random bytes: 16 characters of 5 bits each, grouped by four (XXXX-XXXX-XXXX-XXXX). */
export function voucherCode(random: Uint8Array): string {
  if (random.length !== VOUCHER_BYTES) throw new Error(`a voucher code takes ${VOUCHER_BYTES} random bytes`);
  let bits = 0n;
  for (const byte of random) bits = (bits << 8n) | BigInt(byte);
  let code = '';
  for (let i = 15; i >= 0; i--) code += VOUCHER_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return code.match(/.{4}/g)!.join('-');
}

/**
 * A voucher code as a till may type or scan it (any case, spaces or dashes anywhere, the letters
 * O, I and L for the digits they look like), in its stored form; null when it cannot be one.
 */
export function readVoucherCode(typed: string): string | null {
  const compact = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (compact.length !== 16 || [...compact].some((c) => !VOUCHER_ALPHABET.includes(c))) return null;
  return compact.match(/.{4}/g)!.join('-');
}
