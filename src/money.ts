import { BadInputError } from './errors';

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A decimal string as an integer count of 10^-scale units, exactly (no floats). */
export function toUnits(value: string, scale: number): bigint {
  const match = DECIMAL.exec(value.trim());
  if (!match) throw new BadInputError(`"${value}" is not a decimal number`);
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > scale) throw new BadInputError(`"${value}" has more than ${scale} decimal places`);
  const units = BigInt((whole as string) + fraction.padEnd(scale, '0'));
  return sign === '-' ? -units : units;
}

/** Integer units back to a decimal string with exactly `scale` places. */
export function fromUnits(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** Validates a decimal input and returns it normalised to `scale` places. */
export function checkDecimal(value: string, field: string, opts: { min?: number; scale: number; positive?: boolean }): string {
  let units: bigint;
  try {
    units = toUnits(value, opts.scale);
  } catch {
    throw new BadInputError(`${field} must be a decimal string with at most ${opts.scale} decimal places`, field);
  }
  if (opts.positive && units <= 0n) throw new BadInputError(`${field} must be greater than zero`, field);
  if (opts.min !== undefined && units < BigInt(opts.min) * 10n ** BigInt(opts.scale)) {
    throw new BadInputError(`${field} must be at least ${opts.min}`, field);
  }
  return fromUnits(units, opts.scale);
}

/** floor(a * b / c) for non-negative bigints. */
export function mulDivFloor(a: bigint, b: bigint, c: bigint): bigint {
  return (a * b) / c;
}

/** round-half-up(a * b / c) for non-negative bigints. */
export function mulDivRound(a: bigint, b: bigint, c: bigint): bigint {
  return (a * b * 2n + c) / (2n * c);
}

/** A decimal string without trailing fractional zeros: "2.5000" → "2.5", "2.0000" → "2". */
export function plainDecimal(value: string): string {
  return value.includes('.') ? value.replace(/\.?0+$/, '') : value;
}
