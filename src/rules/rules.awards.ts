/**
 * Evaluating the active earning rules for a purchase or an event: each rule version compiled
 * once, the facts built, and what the engine (rules.engine.ts) needs read — the member's awards
 * for limited rules, the budgets of budgeted ones (under their row locks in a unit of work) —
 * then the awards planned on the unit of work.
 */
import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import type { EarnComponent, RuleAwardRecord } from '../ledger/ledger.types';
import type { UnitOfWork } from '../ledger/unit-of-work';
import { toUnits } from '../money';
import type { EarningRuleRow, ProgramView } from '../program/program.types';
import { EventValue, ItemValue, MemberValue, PurchaseValue, celJson, celReady, compileCondition, type RuleContext } from './cel';
import {
  PURCHASE_TRIGGER, candidates, evaluationOrder, localCalendar, periodStart, readsPurchaseCount, settle,
  type EarnFacts, type RuleAward, type RuleDefinition, type Standing,
} from './rules.engine';
import * as repo from './rules.repo';

const compiledVersions = new Map<string, RuleDefinition>();

/** The rule as the engine evaluates it; its conditions compiled once per version. */
export function compileRule(row: EarningRuleRow, keep = true): RuleDefinition {
  const key = `${row.id}:${row.version}`;
  let rule = keep ? compiledVersions.get(key) : undefined;
  if (!rule) {
    const onPurchase = row.trigger === PURCHASE_TRIGGER;
    rule = {
      id: row.id, version: row.version, name: row.name, trigger: row.trigger,
      condition: row.condition ? compileCondition(row.condition, 'condition', onPurchase ? 'purchase' : 'event') : null,
      effect: {
        kind: row.effect_kind, points: row.effect_points, rate: row.effect_rate === null ? null : toUnits(row.effect_rate, 4),
        itemCondition: row.item_condition ? compileCondition(row.item_condition, 'effect.itemCondition', 'item') : null,
        qualifying: row.qualifying,
      },
      limit: row.limit_count !== null && row.limit_period !== null ? { count: row.limit_count, period: row.limit_period } : null,
      budgetPoints: row.budget_points, priority: row.priority, exclusive: row.exclusive,
      startsAt: row.starts_at, endsAt: row.ends_at, created: BigInt(row.seq),
    };
    if (keep) compiledVersions.set(key, rule);
  }
  return rule;
}

/** A programme's active rules for one trigger, compiled, in evaluation order. */
interface RuleSet {
  rules: RuleDefinition[];
  /** Whether any of them reads member.purchaseCount (a count the others need not pay for). */
  readsPurchaseCount: boolean;
}

const ruleSets = new WeakMap<ProgramView, Map<string, RuleSet>>();

async function ruleSet(program: ProgramView, trigger: string): Promise<RuleSet> {
  let byTrigger = ruleSets.get(program);
  if (!byTrigger) {
    await celReady();
    byTrigger = new Map();
    for (const row of program.rules) {
      const rule = compiled(row);
      if (!rule) continue;
      const set = byTrigger.get(row.trigger) ?? { rules: [], readsPurchaseCount: false };
      set.rules.push(rule);
      set.readsPurchaseCount ||= readsPurchaseCount(row.condition, row.item_condition);
      byTrigger.set(row.trigger, set);
    }
    for (const set of byTrigger.values()) set.rules.sort(evaluationOrder);
    ruleSets.set(program, byTrigger);
  }
  return byTrigger.get(trigger) ?? { rules: [], readsPurchaseCount: false };
}

const refused = new Set<string>();

/**
 * The stored rule compiled, or null when its conditions no longer pass (saved under an older
 * check, say): that rule is left out, with a warning once per version, rather than every
 * purchase failing on it.
 */
function compiled(row: EarningRuleRow): RuleDefinition | null {
  try {
    return compileRule(row);
  } catch (error) {
    const key = `${row.id}:${row.version}`;
    if (!refused.has(key)) {
      refused.add(key);
      process.emitWarning(`earning rule ${key} is left out: ${error instanceof Error ? error.message : String(error)}`, 'EarningRuleWarning');
    }
    return null;
  }
}

/** Whether the programme has active rules for `trigger`. */
export function hasRules(program: ProgramView, trigger: string): boolean {
  return program.rules.some((rule) => rule.trigger === trigger);
}

// Evaluating.

/** What a budget stands at: read plainly, or under its row's lock. */
export type BudgetState = repo.BudgetState;

/** What the rules read besides the facts: a unit's view, or a plain one (quotes). */
export interface RuleReads {
  db: Db;
  /** The budgets as they stand, read plainly. */
  budgets(ruleIds: readonly string[]): Promise<Map<string, BudgetState>>;
  /** The budgets under their rows' locks, held to the end of the unit; absent where nothing is locked (a quote). */
  lockBudgets?(ruleIds: readonly string[]): Promise<Map<string, BudgetState>>;
}

/** The reads of a unit of work: a budget it would spend is locked, so the locked way takes over an optimistic unit. */
export function unitReads(work: UnitOfWork): RuleReads {
  return {
    db: work.db,
    budgets: (ids) => repo.budgetStates(work.db, ids, false),
    lockBudgets: async (ids) => {
      work.requireLock();
      return repo.budgetStates(work.db, ids, true);
    },
  };
}

/** Plain reads, for a quote: they write nothing and lock nothing. */
export function plainReads(db: Db): RuleReads {
  return { db, budgets: (ids) => repo.budgetStates(db, ids, false) };
}

export interface PurchaseAct {
  kind: 'purchase';
  cents: bigint;
  currency: string;
  channel: string | null;
  orderId: string;
  partnerId: string | null;
  items: readonly { sku: string; category: string | null; quantity: number; unitPrice: string }[] | null;
  /** The earn rate the purchase's base points used when its partner has its own (MULTIPLIER effects scale those points); absent, the programme's. */
  earnRate?: string | null;
}
export interface EventAct { kind: 'event'; type: string; attributes: Record<string, unknown> }

/** A rule's award, with what its budget had spent before it (null: no budget). */
export interface Award extends RuleAward { budgetSpentBefore: number | null }

/**
 * What the active rules award for `act` by `member` (tier `tierCode`) at `now`, in evaluation
 * order, within `room` points (what one transaction may still move). Reads only what the
 * candidate rules need: the purchase count when a rule reads it, the member's awards for limited
 * rules, the budgets of budgeted ones. A budget is locked only once a rule would spend from it,
 * and decided again on what the lock reads: its terms as they stand, which a rule changed or
 * switched off since the programme was read does not meet.
 */
export async function ruleAwards(
  reads: RuleReads, program: ProgramView, member: MemberRow, tierCode: () => Promise<string>, act: PurchaseAct | EventAct, now: Date, room: number,
): Promise<Award[]> {
  const trigger = act.kind === 'purchase' ? PURCHASE_TRIGGER : act.type;
  const set = await ruleSet(program, trigger);
  if (set.rules.length === 0) return [];
  const count = set.readsPurchaseCount ? await repo.purchaseCount(reads.db, member.id) : 0;
  const facts = factsOf(program, member, await tierCode(), act, now, count);
  const found = candidates(set.rules, facts);
  if (found.length === 0) return [];
  const limited = found.filter((c) => c.rule.limit);
  const counts = await repo.awardCounts(reads.db, member.id, limited.map((c) => ({
    ruleId: c.rule.id, since: periodStart(c.rule.limit!.period, now, program.timezone),
  })));
  const rules = new Map(found.map((c) => [c.rule.id, c.rule]));
  const budgeted = found.filter((c) => c.rule.budgetPoints !== null).map((c) => c.rule.id);
  const budgets = budgeted.length > 0 ? await reads.budgets(budgeted) : new Map<string, BudgetState>();
  const standing = (ruleId: string): Standing => {
    const rule = rules.get(ruleId) as RuleDefinition;
    const awards = counts.get(ruleId) ?? 0;
    if (rule.budgetPoints === null) return { awards, budgetLeft: null };
    const state = budgets.get(ruleId);
    const current = state && state.active && state.version === rule.version && state.budget !== null;
    return { awards, budgetLeft: current ? Math.max(0, (state.budget as number) - state.spent) : 0 };
  };
  const locked = new Set<string>();
  for (;;) {
    const { awards } = settle(found, standing, room);
    const toLock = awards.filter((a) => budgets.has(a.ruleId) && !locked.has(a.ruleId)).map((a) => a.ruleId);
    if (toLock.length === 0 || !reads.lockBudgets) {
      return awards.map((award) => ({ ...award, budgetSpentBefore: budgets.get(award.ruleId)?.spent ?? null }));
    }
    // Decided again under the locks: a budget found spent may let a rule after it in, whose own
    // budget is then locked in turn (a lock taken out of id order is a deadlock the transaction
    // retries, not a wrong award).
    for (const [id, state] of await reads.lockBudgets(toLock)) budgets.set(id, state);
    for (const id of toLock) locked.add(id);
  }
}

/** What the rules read of a member. */
export type RuleMember = Pick<MemberRow, 'id' | 'tags' | 'enrolled_at' | 'birth_date'>;

/** The facts a rule set is evaluated on (the context of docs/rules.md). */
export function factsOf(program: ProgramView, member: RuleMember, tierCode: string, act: PurchaseAct | EventAct, now: Date, purchaseCount: number): EarnFacts {
  const { localDay, localDate } = localCalendar(now, program.timezone);
  const memberValue = new MemberValue(
    member.id, tierCode, member.tags ?? [], member.enrolled_at, BigInt(purchaseCount), member.birth_date ? String(member.birth_date).slice(0, 10) : '',
  );
  const context: RuleContext = { member: memberValue, now, localDay, localDate };
  const earnRate = toUnits((act.kind === 'purchase' && act.earnRate) || program.earn_rate, 4);
  if (act.kind === 'event') {
    context.event = new EventValue(act.type, celJson(act.attributes) as Record<string, unknown>);
    return { trigger: act.type, context, amountCents: 0n, items: [], earnRate, now };
  }
  const items = (act.items ?? []).map((item) => {
    const unitCents = toUnits(item.unitPrice, 2);
    return {
      value: new ItemValue(item.sku, item.category ?? '', BigInt(item.quantity), Number(unitCents) / 100),
      cents: unitCents * BigInt(item.quantity),
    };
  });
  context.purchase = new PurchaseValue(
    Number(act.cents) / 100, act.currency, act.channel ?? '', act.orderId, act.partnerId ?? '', items.map((i) => i.value),
  );
  return { trigger: PURCHASE_TRIGGER, context, amountCents: act.cents, items, earnRate, now };
}

/** The breakdown line of a rule's award. */
export function ruleComponent(award: RuleAward): EarnComponent {
  return { source: 'RULE', description: award.name, points: award.points, qualifyingPoints: award.qualifyingPoints, ruleId: award.ruleId, ruleVersion: award.ruleVersion };
}

/** The awards as the ledger entry records them. */
export function awardRecords(awards: readonly Award[]): RuleAwardRecord[] {
  return awards.map((a) => ({ ruleId: a.ruleId, ruleVersion: a.ruleVersion, points: a.points, qualifyingPoints: a.qualifyingPoints }));
}

/** Plans what the awards spend of their budgets (a limit counts the entry's own record of them). */
export function planBudgets(work: UnitOfWork, awards: readonly Award[]): void {
  for (const award of awards) {
    if (award.budgetSpentBefore !== null) work.write(repo.spendBudget(award.ruleId, award.budgetSpentBefore + award.points));
  }
}
