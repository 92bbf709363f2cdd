/** Checks of programme settings shared with other domains: pure, no I/O. */
import { BadInputError } from '../errors';
import { checkDecimal, toUnits } from '../money';

/** Points per currency unit at most: a rate beyond it is a typo, not a programme. */
export const MAX_EARN_RATE = 1_000;

/** An earn rate: a decimal of at most 4 places, 0 to MAX_EARN_RATE points per currency unit; returned with 4 places. */
export function checkEarnRate(value: string, field = 'earnRate'): string {
  const rate = checkDecimal(value, field, { min: 0, scale: 4 });
  if (toUnits(rate, 4) > BigInt(MAX_EARN_RATE) * 10_000n) {
    throw new BadInputError(`${field} must be at most ${MAX_EARN_RATE} points per currency unit`, field);
  }
  return rate;
}
