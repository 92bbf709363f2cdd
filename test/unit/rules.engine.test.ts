/**
 * The earning-rule engine's decisions, table by table: conditions, item filters, each effect and
 * its rounding, evaluation order, exclusivity, limits, budgets, and the calendar of the
 * programme's time zone around midnight and daylight-saving changes.
 */
import { celReady } from '../../src/rules/cel';
import {
  candidates, evaluationOrder, localCalendar, multiplierPoints, periodStart, perUnitPoints, settle, type Candidate, type RuleDefinition, type Standing,
} from '../../src/rules/rules.engine';
import { compileRule, factsOf, type EventAct, type PurchaseAct } from '../../src/rules/rules.awards';
import type { EarningRuleRow, ProgramView } from '../../src/program/program.types';
import type { MemberRow } from '../../src/db/rows';

beforeAll(celReady);

const NOW = new Date('2026-06-06T12:00:00Z'); // a Saturday
const program = { earn_rate: '1.0000', timezone: 'UTC' } as ProgramView;
const member = { id: 'm-1', tags: ['vip'], enrolled_at: new Date('2025-01-01T00:00:00Z'), birth_date: '1990-06-06' } as unknown as MemberRow;

let seq = 0;
function rule(over: Partial<EarningRuleRow>): RuleDefinition {
  seq++;
  return compileRule({
    id: `r-${seq}`, seq: String(seq), version: 1, name: `rule ${seq}`, trigger: 'PURCHASE', condition: null, effect_kind: 'FIXED', effect_points: 10, effect_rate: null,
    item_condition: null, qualifying: false, limit_count: null, limit_period: null, budget_points: null, budget_spent: 0, priority: 0,
    exclusive: false, starts_at: null, ends_at: null, active: true, created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)), updated_at: NOW,
    ...over,
  });
}

const purchaseOf = (over: Partial<PurchaseAct> = {}): PurchaseAct => ({
  kind: 'purchase', cents: 10_000n, currency: 'USD', channel: 'app', orderId: 'o-1', partnerId: null,
  items: [
    { sku: 'RUN', category: 'shoes', quantity: 2, unitPrice: '30.00' },
    { sku: 'TEE', category: 'apparel', quantity: 1, unitPrice: '40.00' },
  ],
  ...over,
});

function facts(act: PurchaseAct | EventAct = purchaseOf(), { now = NOW, tier = 'GOLD', count = 0, zone = 'UTC', rate = '1.0000' } = {}) {
  return factsOf({ ...program, timezone: zone, earn_rate: rate }, member, tier, act, now, count);
}

const pointsOf = (r: RuleDefinition, f = facts()) => candidates([r], f)[0]?.points ?? 0;

describe('conditions', () => {
  test.each([
    ['always (no condition)', null, true],
    ['amount over 50', 'purchase.amount > 50.0', true],
    ['amount over 500', 'purchase.amount > 500.0', false],
    ['channel', 'purchase.channel == "app"', true],
    ['any shoes in the basket', 'purchase.items.exists(i, i.category == "shoes")', true],
    ['every item shoes', 'purchase.items.all(i, i.category == "shoes")', false],
    ['tier', 'member.tier == "GOLD"', true],
    ['tag', '"vip" in member.tags', true],
    ['missing tag', '"staff" in member.tags', false],
    ['weekend (localDay)', 'localDay == 6 || localDay == 0', true],
    ['date', 'localDate == "2026-06-06"', true],
    ['first purchase', 'member.purchaseCount == 0', true],
    ['member since', 'member.enrolledAt < timestamp("2025-06-01T00:00:00Z")', true],
    ['birthday today', 'member.birthDate.endsWith(localDate.substring(4))', true],
    ['clock', 'now >= timestamp("2026-06-06T00:00:00Z")', true],
  ])('%s', (_name, condition, expected) => {
    expect(pointsOf(rule({ condition }))).toBe(expected ? 10 : 0);
  });

  test.each([
    ['rating 5 of at least 4', { rating: 5 }, true],
    ['rating 3.5 of at least 4', { rating: 3.5 }, false],
    ['attribute not sent: false, not an error', {}, false],
  ])('event attributes: %s', (_name, attributes, expected) => {
    const r = rule({ trigger: 'review', condition: 'event.attributes.rating >= 4' });
    expect(pointsOf(r, facts({ kind: 'event', type: 'review', attributes }))).toBe(expected ? 10 : 0);
  });

  test('a rule for another trigger, or outside its dates, does not apply', () => {
    expect(pointsOf(rule({ trigger: 'review' }))).toBe(0);
    expect(pointsOf(rule({ starts_at: new Date('2026-06-06T12:00:01Z') }))).toBe(0);
    expect(pointsOf(rule({ starts_at: NOW }))).toBe(10);
    expect(pointsOf(rule({ ends_at: NOW }))).toBe(0);
    expect(pointsOf(rule({ ends_at: new Date('2026-06-06T12:00:01Z') }))).toBe(10);
  });
});

describe('effects and rounding', () => {
  test.each([
    // kind, rate, itemCondition, earn rate, expected points
    ['FIXED', null, null, '1.0000', 10],
    ['PER_UNIT on the order: 100.00 × 3', '3.0000', null, '1.0000', 300],
    ['PER_UNIT on shoes: 60.00 × 0.5', '0.5000', 'item.category == "shoes"', '1.0000', 30],
    ['PER_UNIT rounds down: 60.00 × 0.0333 = 1.998', '0.0333', 'item.category == "shoes"', '1.0000', 1],
    ['MULTIPLIER 2 on the order: +100', '2.0000', null, '1.0000', 100],
    ['MULTIPLIER 2 on shoes: +60', '2.0000', 'item.category == "shoes"', '1.0000', 60],
    ['MULTIPLIER 1.5 on shoes at earn rate 1.25: base 75, +37', '1.5000', 'item.category == "shoes"', '1.2500', 37],
    ['MULTIPLIER with no matching item: nothing', '2.0000', 'item.category == "toys"', '1.0000', 0],
  ])('%s', (name, rate, itemCondition, earnRate, expected) => {
    const kind = name.split(' ')[0] as 'FIXED' | 'PER_UNIT' | 'MULTIPLIER';
    const r = rule({ effect_kind: kind, effect_points: kind === 'FIXED' ? 10 : null, effect_rate: rate, item_condition: itemCondition });
    expect(pointsOf(r, facts(purchaseOf(), { rate: earnRate }))).toBe(expected);
  });

  test.each([
    [1_999n, 10_000n, 19], // 19.99 × 1
    [1_999n, 15_000n, 29], // 29.985
    [1n, 10_000n, 0],
  ])('perUnitPoints(%p cents, rate %p) = %p', (cents, rate, expected) => {
    expect(perUnitPoints(cents, rate)).toBe(expected);
  });

  test.each([
    [1_999n, 10_000n, 20_000n, 19], // base 19, doubled: +19
    [1_999n, 10_000n, 15_000n, 9], // base 19 × 0.5 = 9.5
    [1_999n, 15_000n, 30_000n, 58], // base floor(29.985) = 29, × 2 = 58
  ])('multiplierPoints(%p cents, earn %p, rate %p) = %p', (cents, earn, rate, expected) => {
    expect(multiplierPoints(cents, earn, rate)).toBe(expected);
  });

  test('an item filter reads the item and the purchase', () => {
    const r = rule({ effect_kind: 'PER_UNIT', effect_points: null, effect_rate: '1.0000', item_condition: 'item.quantity >= 2 && purchase.channel == "app"' });
    expect(pointsOf(r)).toBe(60);
  });
});

describe('stacking: order, exclusive, limits, budgets', () => {
  const free: Standing = { awards: 0, budgetLeft: null };
  const outcome = (found: Candidate[], standing: (id: string) => Standing = () => free) =>
    settle(found, standing).awards.map((a) => [a.name, a.points]);

  test('higher priority first; ties oldest first', () => {
    const old = rule({ name: 'old' });
    const young = rule({ name: 'young' });
    const high = rule({ name: 'high', priority: 5 });
    const sorted = [young, high, old].sort(evaluationOrder);
    expect(outcome(candidates(sorted, facts()))).toEqual([['high', 10], ['old', 10], ['young', 10]]);
  });

  test.each([
    ['an exclusive rule that applies skips the rules of lower priority', [{ exclusive: true, priority: 1 }, {}, {}], () => free, [['a', 10]]],
    ['an exclusive rule does not skip a rule of its own priority', [{ exclusive: true }, {}, { priority: -1 }], () => free, [['a', 10], ['b', 10]]],
    ['an exclusive rule at its limit does not apply: the next ones run', [{ exclusive: true, limit_count: 1, limit_period: 'DAY' }, {}], (id: string) => (id === 'a' ? { awards: 1, budgetLeft: null } : free), [['b', 10]]],
    ['an exclusive rule later in the order skips only what ranks below it', [{ priority: 2 }, { exclusive: true, priority: 1 }, {}], () => free, [['a', 10], ['b', 10]]],
    ['a rule at its limit is skipped', [{ limit_count: 3, limit_period: 'MONTH' }, {}], (id: string) => (id === 'a' ? { awards: 3, budgetLeft: null } : free), [['b', 10]]],
    ['under its limit it awards', [{ limit_count: 3, limit_period: 'MONTH' }], () => ({ awards: 2, budgetLeft: null }), [['a', 10]]],
    ['a budget with less left than the award gives what is left', [{ budget_points: 100 }], () => ({ awards: 0, budgetLeft: 4 }), [['a', 4]]],
    ['a spent budget is skipped', [{ budget_points: 100 }, {}], (id: string) => (id === 'a' ? { awards: 0, budgetLeft: 0 } : free), [['b', 10]]],
  ] as const)('%s', (_name, overs, standing, expected) => {
    const rules = overs.map((over, i) => rule({ ...over, name: 'abc'[i] } as Partial<EarningRuleRow>));
    const ids = new Map(rules.map((r, i) => [r.id, 'abc'[i] as string]));
    expect(outcome(candidates(rules, facts()), (id) => standing(ids.get(id) as string))).toEqual(expected);
  });

  test.each([
    ['all fit', 30, [['a', 10], ['b', 10], ['c', 10]]],
    ['the rule that would pass the room gives what fits, the rest nothing', 15, [['a', 10], ['b', 5]]],
    ['no room: nothing', 0, []],
  ] as const)('room in the transaction: %s', (_name, room, expected) => {
    const rules = [rule({ name: 'a' }), rule({ name: 'b' }), rule({ name: 'c' })];
    expect(settle(candidates(rules, facts()), () => free, room).awards.map((a) => [a.name, a.points])).toEqual(expected);
  });

  test('qualifying rules give qualifying points; others do not', () => {
    const [q, n] = [rule({ qualifying: true }), rule({})];
    expect(settle(candidates([q, n], facts()), () => free).awards.map((a) => a.qualifyingPoints)).toEqual([10, 0]);
  });
});

describe('the programme calendar', () => {
  test.each([
    // instant, zone, localDay, localDate
    ['2026-06-05T22:30:00Z', 'Europe/Paris', 6, '2026-06-06'], // Saturday 00:30 in Paris, Friday in UTC
    ['2026-06-05T22:30:00Z', 'UTC', 5, '2026-06-05'],
    ['2026-06-07T03:59:00Z', 'America/New_York', 6, '2026-06-06'], // Saturday 23:59 in New York
    ['2026-06-07T04:00:00Z', 'America/New_York', 0, '2026-06-07'],
    ['2026-03-29T00:59:59Z', 'Europe/Paris', 0, '2026-03-29'], // the night clocks go forward
    ['2026-10-25T22:59:59Z', 'Europe/Paris', 0, '2026-10-25'], // the night clocks go back: Sunday 23:59:59 CET
    ['2026-10-25T23:00:00Z', 'Europe/Paris', 1, '2026-10-26'],
  ])('%s in %s is day %p, %s', (iso, zone, day, date) => {
    expect(localCalendar(new Date(iso), zone)).toEqual({ localDay: BigInt(day), localDate: date });
  });

  test.each([
    ['DAY', '2026-06-05T22:30:00Z', 'Europe/Paris', '2026-06-05T22:00:00.000Z'],
    ['WEEK', '2026-06-07T21:59:00Z', 'Europe/Paris', '2026-05-31T22:00:00.000Z'], // Sunday 23:59: the week began Monday 1 June, 00:00 CEST
    ['WEEK', '2026-06-07T22:00:00Z', 'Europe/Paris', '2026-06-07T22:00:00.000Z'], // Monday 00:00: a new week
    ['MONTH', '2026-03-31T22:30:00Z', 'Europe/Paris', '2026-03-31T22:00:00.000Z'], // 1 April 00:30 CEST
    ['MONTH', '2026-03-31T21:30:00Z', 'Europe/Paris', '2026-02-28T23:00:00.000Z'], // still March: began at 00:00 CET
    ['DAY', '2026-03-29T12:00:00Z', 'Europe/Paris', '2026-03-28T23:00:00.000Z'], // a 23-hour day began at CET midnight
    ['DAY', '2026-11-01T12:00:00Z', 'America/New_York', '2026-11-01T04:00:00.000Z'], // a 25-hour day began at EDT midnight
    ['YEAR', '2026-12-31T23:30:00Z', 'Asia/Tokyo', '2026-12-31T15:00:00.000Z'],
  ] as const)('%s containing %s in %s began at %s', (period, iso, zone, start) => {
    expect(periodStart(period, new Date(iso), zone)?.toISOString()).toBe(start);
  });

  test('LIFETIME has no start', () => {
    expect(periodStart('LIFETIME', NOW, 'UTC')).toBeNull();
  });
});
