/** What a purchase earns: pure rules, no I/O. */
import type { ProgramView, TierView } from '../program/program.types';
import { multiplierUnits, pointsForUnits } from '../ledger/ledger.rules';
import type { EarnComponent } from '../ledger/ledger.types';
import { plainDecimal, toUnits } from '../money';

export interface Earning {
  /** Base points: the qualifying points. */
  base: number;
  /** Base points with the tier's multiplier: the points credited. */
  total: number;
  breakdown: EarnComponent[];
}

/**
 * What a purchase reads of its programme, worked out once per programme as loaded: the earn
 * rate in units, each rung's multiplier and the breakdowns' wording.
 */
interface EarnTerms {
  rate: bigint;
  base: string;
  rungs: Map<TierView, { multiplier: bigint; description: string }>;
}

const TERMS = new WeakMap<ProgramView, EarnTerms>();
/** The same at a partner's own earn rates, by rate. */
const PARTNER_TERMS = new WeakMap<ProgramView, Map<string, EarnTerms>>();
/** The base points' multiplier: ×1. */
const ONE = multiplierUnits(1);

function termsOf(program: ProgramView): EarnTerms {
  let terms = TERMS.get(program);
  if (!terms) {
    terms = {
      rate: toUnits(program.earn_rate, 4),
      base: `${plainDecimal(program.earn_rate)} ${program.points_name} per ${program.currency}`,
      rungs: new Map(program.tiers.map((tier) => [tier, rungTerms(tier)])),
    };
    TERMS.set(program, terms);
  }
  return terms;
}

function partnerTermsOf(program: ProgramView, rate: string): EarnTerms {
  let byRate = PARTNER_TERMS.get(program);
  if (!byRate) PARTNER_TERMS.set(program, (byRate = new Map()));
  let terms = byRate.get(rate);
  if (!terms) {
    terms = {
      rate: toUnits(rate, 4),
      base: `${plainDecimal(rate)} ${program.points_name} per ${program.currency} (partner rate)`,
      rungs: termsOf(program).rungs,
    };
    byRate.set(rate, terms);
  }
  return terms;
}

function rungTerms(tier: TierView) {
  return { multiplier: multiplierUnits(tier.earn_multiplier), description: `${tier.name} ×${Number(tier.earn_multiplier)}` };
}

/**
 * What a purchase of `cents` (minor units) earns at `tier`: floor(amount × earn rate) base
 * points, floor(amount × earn rate × multiplier) in all, and a breakdown naming each part. The
 * earn rate is `partnerRate` when the purchase's partner has one of its own, else the programme's.
 */
export function earning(program: ProgramView, cents: bigint, tier: TierView, partnerRate: string | null = null): Earning {
  const terms = partnerRate === null ? termsOf(program) : partnerTermsOf(program, partnerRate);
  const rung = terms.rungs.get(tier) ?? rungTerms(tier);
  const base = pointsForUnits(cents, terms.rate, ONE);
  const total = pointsForUnits(cents, terms.rate, rung.multiplier);
  const breakdown: EarnComponent[] = [{ source: 'BASE', description: terms.base, points: base, qualifyingPoints: base }];
  if (total !== base) breakdown.push({ source: 'TIER_MULTIPLIER', description: rung.description, points: total - base, qualifyingPoints: 0 });
  return { base, total, breakdown };
}
