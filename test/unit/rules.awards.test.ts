/**
 * How a budgeted rule is decided: on a plain read first, then again on what the rule's locked row
 * says — the budget, whether the rule is on and its version as they stand, which a programme read
 * a moment ago may not know. A budget found spent is never locked.
 */
import type { Db } from '../../src/db/database';
import type { MemberRow } from '../../src/db/rows';
import type { EarningRuleRow, ProgramView } from '../../src/program/program.types';
import { celReady } from '../../src/rules/cel';
import { ruleAwards, type BudgetState, type RuleReads } from '../../src/rules/rules.awards';

beforeAll(celReady);

const NOW = new Date('2026-06-01T12:00:00Z');
const member = { id: 'm-1', tags: [], enrolled_at: NOW, birth_date: null, lifetime_earned: 0 } as unknown as MemberRow;

function rule(id: string, over: Partial<EarningRuleRow>): EarningRuleRow {
  return {
    id, seq: String(id.charCodeAt(0)), version: 1, name: id, trigger: 'PURCHASE', condition: null, effect_kind: 'FIXED', effect_points: 30, effect_rate: null,
    item_condition: null, qualifying: false, limit_count: null, limit_period: null, budget_points: 1000, budget_spent: 0, priority: 0,
    exclusive: false, starts_at: null, ends_at: null, active: true, created_at: NOW, updated_at: NOW, ...over,
  };
}

const program = (rules: EarningRuleRow[]) => ({ earn_rate: '1.0000', timezone: 'UTC', rules } as unknown as ProgramView);
const purchase = { kind: 'purchase' as const, cents: 1_000n, currency: 'USD', channel: null, orderId: 'o', partnerId: null, items: null };

/** Reads answering `plain` and, under the lock, `locked`; records which rules were locked. */
function reads(plain: Record<string, BudgetState>, locked: Record<string, BudgetState>, lockedIds: string[][]): RuleReads {
  const pick = (from: Record<string, BudgetState>, ids: readonly string[]) => new Map(ids.flatMap((id) => (from[id] ? [[id, from[id]] as const] : [])));
  return {
    db: {} as Db,
    budgets: async (ids) => pick(plain, ids),
    lockBudgets: async (ids) => {
      lockedIds.push([...ids]);
      return pick(locked, ids);
    },
  };
}

const state = (over: Partial<BudgetState> = {}): BudgetState => ({ spent: 0, budget: 1000, active: true, version: 1, ...over });

test.each([
  ['the locked row as read: the full award', state({ spent: 500 }), [['a', 30]]],
  ['less left under the lock than read: what is left', state({ spent: 990 }), [['a', 10]]],
  ['the budget lowered meanwhile (version 2): left out', state({ budget: 40, spent: 30, version: 2 }), []],
  ['the rule switched off meanwhile: left out', state({ active: false }), []],
  ['spent meanwhile: left out', state({ spent: 1000 }), []],
] as const)('%s', async (_name, underLock, expected) => {
  const locks: string[][] = [];
  const awards = await ruleAwards(reads({ a: state() }, { a: underLock }, locks), program([rule('a', {})]), member, async () => 'MEMBER', purchase, NOW, 1e7);
  expect(awards.map((a) => [a.ruleId, a.points])).toEqual(expected);
  expect(locks).toEqual([['a']]);
});

test('a budget found spent on the plain read is not locked; a rule it was excluding is then locked in its turn', async () => {
  const locks: string[][] = [];
  // (Compiled rules are kept by id and version, whose terms never change: new ids here.)
  const rules = [rule('x', { priority: 2, exclusive: true }), rule('y', { priority: 1 })];
  const plain = { x: state(), y: state() };
  const underLock = { x: state({ spent: 1000 }), y: state({ spent: 100 }) };
  const awards = await ruleAwards(reads(plain, underLock, locks), program(rules), member, async () => 'MEMBER', purchase, NOW, 1e7);
  expect(awards.map((a) => [a.ruleId, a.points, a.budgetSpentBefore])).toEqual([['y', 30, 100]]);
  expect(locks).toEqual([['x'], ['y']]);

  const none: string[][] = [];
  expect(await ruleAwards(reads({ a: state({ spent: 1000 }) }, {}, none), program([rule('a', {})]), member, async () => 'MEMBER', purchase, NOW, 1e7)).toEqual([]);
  expect(none).toEqual([]);
});
