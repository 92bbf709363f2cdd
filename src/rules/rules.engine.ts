/**
 * What earning rules award: pure functions, no I/O (see docs/rules.md). A rule set is evaluated
 * in two steps so that only what matters is read: `candidates` finds the rules whose trigger,
 * dates and condition fit and what each would give; `settle` then applies the member's limits,
 * the campaign budgets and exclusivity, in evaluation order.
 */
import { DateTime } from 'luxon';
import type { EffectKind, LimitPeriod } from '../db/schema';
import type { Condition, ItemValue, RuleContext } from './cel';

export const PURCHASE_TRIGGER = 'PURCHASE';
/** The event types the service sends itself: callers may not. */
export const SIGNUP_EVENT = 'signup';
export const BIRTHDAY_EVENT = 'birthday';
export const SERVICE_EVENTS: readonly string[] = [SIGNUP_EVENT, BIRTHDAY_EVENT];

/** Whether a rule's conditions read member.purchaseCount (a count the other rules need not pay for). */
export function readsPurchaseCount(...conditions: (string | null | undefined)[]): boolean {
  return conditions.some((c) => c != null && /\bpurchaseCount\b/.test(c));
}

export interface RuleDefinition {
  id: string;
  version: number;
  name: string;
  /** "PURCHASE", or an event type (lower case). */
  trigger: string;
  condition: Condition | null;
  effect: {
    kind: EffectKind;
    points: number | null;
    /** In ten-thousandths: 2 is 20,000. */
    rate: bigint | null;
    itemCondition: Condition | null;
    qualifying: boolean;
  };
  limit: { count: number; period: LimitPeriod } | null;
  budgetPoints: number | null;
  priority: number;
  exclusive: boolean;
  startsAt: Date | null;
  endsAt: Date | null;
  /** Creation order (the rule's seq). */
  created: bigint;
}

/** What the rules are evaluated on. */
export interface EarnFacts {
  trigger: string;
  context: RuleContext;
  /** The order total in cents (0 for an event). */
  amountCents: bigint;
  /** Each item with its line total in cents. */
  items: readonly { value: ItemValue; cents: bigint }[];
  /** The programme's earn rate, in ten-thousandths. */
  earnRate: bigint;
  now: Date;
}

export interface Candidate {
  rule: RuleDefinition;
  /** What the rule's effect gives, before limits and budget. */
  points: number;
}

/** What a member's history and the campaign budgets allow a rule now. */
export interface Standing {
  /** Awards to the member in the rule's current limit period. */
  awards: number;
  /** Points left in the rule's budget; null when it has none. */
  budgetLeft: number | null;
}

export interface RuleAward {
  ruleId: string;
  ruleVersion: number;
  name: string;
  points: number;
  qualifyingPoints: number;
}

const TEN_THOUSAND = 10_000n;
const CENTS_BY_RATE = 100n * TEN_THOUSAND;

/** The evaluation order: priority, highest first; ties oldest first. */
export function evaluationOrder(a: RuleDefinition, b: RuleDefinition): number {
  return b.priority - a.priority || (a.created < b.created ? -1 : a.created > b.created ? 1 : 0);
}

/** floor(cents / 100 × rate), the rate in ten-thousandths. */
export function perUnitPoints(cents: bigint, rate: bigint): number {
  return Number((cents * rate) / CENTS_BY_RATE);
}

/** floor(base × (rate − 1)), base = floor(cents / 100 × earn rate): the extra that makes base points `rate` times. */
export function multiplierPoints(cents: bigint, earnRate: bigint, rate: bigint): number {
  const base = (cents * earnRate) / CENTS_BY_RATE;
  return Number((base * (rate - TEN_THOUSAND)) / TEN_THOUSAND);
}

/**
 * The value a PER_UNIT or MULTIPLIER effect counts: the order, or only the items its filter
 * matches, never more than the order (lines are the caller's to state; the amount is what was paid).
 */
function valueCents(rule: RuleDefinition, facts: EarnFacts): bigint {
  const filter = rule.effect.itemCondition;
  if (!filter) return facts.amountCents;
  let cents = 0n;
  const context = { ...facts.context };
  for (const item of facts.items) {
    context.item = item.value;
    if (filter(context)) cents += item.cents;
  }
  return cents < facts.amountCents ? cents : facts.amountCents;
}

/** What the rule's effect gives for these facts, before limits and budget. */
export function effectPoints(rule: RuleDefinition, facts: EarnFacts): number {
  const { kind, points, rate } = rule.effect;
  if (kind === 'FIXED') return points ?? 0;
  const cents = valueCents(rule, facts);
  if (kind === 'PER_UNIT') return perUnitPoints(cents, rate ?? 0n);
  return multiplierPoints(cents, facts.earnRate, rate ?? TEN_THOUSAND);
}

/** Whether the rule is in force at `now` for `trigger` and its condition holds. */
export function applies(rule: RuleDefinition, facts: EarnFacts): boolean {
  if (rule.trigger !== facts.trigger) return false;
  if (rule.startsAt && facts.now.getTime() < rule.startsAt.getTime()) return false;
  if (rule.endsAt && facts.now.getTime() >= rule.endsAt.getTime()) return false;
  return rule.condition === null || rule.condition(facts.context);
}

/** The rules (given in evaluation order) that fit the facts and would give points, with what each would give. */
export function candidates(rules: readonly RuleDefinition[], facts: EarnFacts): Candidate[] {
  const found: Candidate[] = [];
  for (const rule of rules) {
    if (!applies(rule, facts)) continue;
    const points = effectPoints(rule, facts);
    if (points > 0) found.push({ rule, points });
  }
  return found;
}

/**
 * The awards, in evaluation order (found must be in it). A rule at its member limit is skipped;
 * a rule whose budget has less left than it would give awards what is left (never more), and is
 * skipped when nothing is; once an exclusive rule awards, every rule of lower priority is
 * skipped. Together the awards stay within `room` points (what one transaction may still move):
 * the rule that would pass it awards what fits, and the rules after it nothing.
 */
export function settle(found: readonly Candidate[], standing: (ruleId: string) => Standing, room = Number.POSITIVE_INFINITY): { awards: RuleAward[] } {
  const awards: RuleAward[] = [];
  let excludedBelow: number | null = null;
  let left = room;
  for (const { rule, points } of found) {
    if (excludedBelow !== null && rule.priority < excludedBelow) continue;
    const { awards: made, budgetLeft } = standing(rule.id);
    if (rule.limit && made >= rule.limit.count) continue;
    const given = Math.min(points, budgetLeft ?? points, left);
    if (given <= 0) continue;
    left -= given;
    awards.push({ ruleId: rule.id, ruleVersion: rule.version, name: rule.name, points: given, qualifyingPoints: rule.effect.qualifying ? given : 0 });
    if (rule.exclusive) excludedBelow ??= rule.priority;
  }
  return { awards };
}

/** Where the rule's current limit period began at `now` in `zone` (weeks start on Monday); null for LIFETIME. */
export function periodStart(period: LimitPeriod, now: Date, zone: string): Date | null {
  if (period === 'LIFETIME') return null;
  const unit = ({ DAY: 'day', WEEK: 'week', MONTH: 'month', YEAR: 'year' } as const)[period];
  return DateTime.fromJSDate(now, { zone }).startOf(unit).toJSDate();
}

/** The calendar of `now` in `zone`: day of week (0 = Sunday … 6 = Saturday) and "YYYY-MM-DD". */
export function localCalendar(now: Date, zone: string): { localDay: bigint; localDate: string } {
  // Every offset in use is a whole number of quarter hours, so a date changes only on a
  // quarter-hour boundary: one answer serves a whole quarter hour.
  const key = `${zone} ${Math.floor(now.getTime() / QUARTER_HOUR)}`;
  let day = calendars.get(key);
  if (!day) {
    const local = DateTime.fromJSDate(now, { zone });
    day = { localDay: BigInt(local.weekday % 7), localDate: local.toISODate() ?? '' };
    if (calendars.size >= 100_000) calendars.clear();
    calendars.set(key, day);
  }
  return day;
}

const QUARTER_HOUR = 15 * 60_000;
const calendars = new Map<string, { localDay: bigint; localDate: string }>();
