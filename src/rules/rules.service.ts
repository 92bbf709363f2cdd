/**
 * Earning rules: managing them (ADMIN), compiling each version once, and evaluating the active
 * ones for a purchase or an event (rules.engine.ts decides; this file reads what it needs).
 */
import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { isUuid } from '../db/ids';
import type { MemberRow } from '../db/rows';
import type { EffectKind, LimitPeriod } from '../db/schema';
import { BadInputError, NotFoundError } from '../errors';
import { inTransaction } from '../db/transaction';
import { MAX_POINTS_PER_TRANSACTION } from '../ledger/ledger.rules';
import type { EarnComponent } from '../ledger/ledger.types';
import type { UnitOfWork } from '../ledger/unit-of-work';
import { checkDecimal, fromUnits, toUnits } from '../money';
import { invalidateProgram } from '../program/program.service';
import type { EarningRuleRow, ProgramView } from '../program/program.types';
import { EventValue, ItemValue, MemberValue, PurchaseValue, celJson, celReady, compileCondition, type RuleContext } from './cel';
import {
  candidates, evaluationOrder, localCalendar, periodStart, settle, type EarnFacts, type RuleAward, type RuleDefinition, type Standing,
} from './rules.engine';
import * as repo from './rules.repo';

export const PURCHASE_TRIGGER = 'PURCHASE';
/** The event types the service itself sends. */
export const SIGNUP_EVENT = 'signup';
export const BIRTHDAY_EVENT = 'birthday';

export interface EarningRuleInput {
  name: string;
  trigger: string;
  condition?: string | null;
  effect: { kind: EffectKind; points?: number | null; rate?: string | null; itemCondition?: string | null; qualifying?: boolean | null };
  limit?: { count: number; period: LimitPeriod } | null;
  budgetPoints?: number | null;
  priority?: number | null;
  exclusive?: boolean | null;
  startsAt?: Date | null;
  endsAt?: Date | null;
  active?: boolean | null;
}

/** A checked rule: the columns it is stored as, and the compiled form. */
interface CheckedRule {
  columns: Omit<EarningRuleRow, 'id' | 'version' | 'budget_spent' | 'created_at' | 'updated_at'>;
}

const MAX_RATE = { PER_UNIT: 10_000, MULTIPLIER: 100 } as const;
const EVENT_TYPE = /^[a-z][a-z0-9_.:-]{0,63}$/;

/** "PURCHASE" (in any case), or an event type: lower case letters, digits and _ . : - (at most 64). */
export function checkTrigger(value: string, field = 'trigger'): string {
  const trimmed = value.trim();
  if (trimmed.toUpperCase() === PURCHASE_TRIGGER) return PURCHASE_TRIGGER;
  const type = trimmed.toLowerCase();
  if (!EVENT_TYPE.test(type)) {
    throw new BadInputError(`${field} must be PURCHASE or an event type (a letter, then letters, digits, _ . : or -; at most 64)`, field);
  }
  return type;
}

function checkInt(value: number | null | undefined, field: string, min: number, max: number): number | null {
  if (value === null || value === undefined) return null;
  if (!Number.isInteger(value) || value < min || value > max) throw new BadInputError(`${field} must be a whole number from ${min} to ${max}`, field);
  return value;
}

function checkCondition(source: string | null | undefined, field: string, kind: 'purchase' | 'event' | 'item'): string | null {
  const text = source?.trim() ?? '';
  if (text === '') return null;
  if (text.length > 2_000) throw new BadInputError(`${field} must be at most 2000 characters`, field);
  compileCondition(text, field, kind);
  return text;
}

/** Validates a rule as saved: every field, and each condition parsed and type-checked as a CEL boolean. */
async function checkRule(input: EarningRuleInput): Promise<CheckedRule> {
  await celReady();
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) throw new BadInputError('name must be 1-100 characters', 'name');
  const trigger = checkTrigger(input.trigger);
  const onPurchase = trigger === PURCHASE_TRIGGER;
  const condition = checkCondition(input.condition, 'condition', onPurchase ? 'purchase' : 'event');
  const { kind } = input.effect;
  let points: number | null = null;
  let rate: string | null = null;
  if (kind === 'FIXED') {
    points = checkInt(input.effect.points, 'effect.points', 1, MAX_POINTS_PER_TRANSACTION);
    if (points === null) throw new BadInputError('effect.points is required for FIXED', 'effect.points');
    if (input.effect.rate != null) throw new BadInputError('effect.rate applies to PER_UNIT and MULTIPLIER only', 'effect.rate');
    if (input.effect.itemCondition?.trim()) throw new BadInputError('effect.itemCondition applies to PER_UNIT and MULTIPLIER only', 'effect.itemCondition');
  } else {
    if (!onPurchase) throw new BadInputError(`${kind} counts a purchase's value: an event rule gives FIXED points`, 'effect.kind');
    if (input.effect.points != null) throw new BadInputError('effect.points applies to FIXED only', 'effect.points');
    if (input.effect.rate == null) throw new BadInputError(`effect.rate is required for ${kind}`, 'effect.rate');
    rate = checkDecimal(input.effect.rate, 'effect.rate', { scale: 4, positive: true });
    const units = toUnits(rate, 4);
    if (kind === 'MULTIPLIER' && units <= 10_000n) throw new BadInputError('effect.rate of a MULTIPLIER must be more than 1 (2 means double points)', 'effect.rate');
    if (units > BigInt(MAX_RATE[kind]) * 10_000n) throw new BadInputError(`effect.rate of ${kind} must be at most ${MAX_RATE[kind]}`, 'effect.rate');
  }
  const itemCondition = kind === 'FIXED' ? null : checkCondition(input.effect.itemCondition, 'effect.itemCondition', 'item');
  const limit = input.limit ?? null;
  if (limit) checkInt(limit.count, 'limit.count', 1, 1_000_000);
  const startsAt = input.startsAt ?? null;
  const endsAt = input.endsAt ?? null;
  if (startsAt && endsAt && endsAt.getTime() <= startsAt.getTime()) throw new BadInputError('endsAt must be after startsAt', 'endsAt');
  return {
    columns: {
      name, trigger, condition, effect_kind: kind, effect_points: points, effect_rate: rate, item_condition: itemCondition,
      qualifying: input.effect.qualifying ?? false,
      limit_count: limit?.count ?? null, limit_period: limit?.period ?? null,
      budget_points: checkInt(input.budgetPoints, 'budgetPoints', 1, 2_000_000_000),
      priority: checkInt(input.priority ?? 0, 'priority', -1_000, 1_000) ?? 0,
      exclusive: input.exclusive ?? false,
      starts_at: startsAt, ends_at: endsAt, active: input.active ?? true,
    },
  };
}

/** A rule's definition as its version record keeps it. */
function definitionOf(columns: CheckedRule['columns']) {
  return {
    name: columns.name, trigger: columns.trigger, condition: columns.condition,
    effect: { kind: columns.effect_kind, points: columns.effect_points, rate: columns.effect_rate, itemCondition: columns.item_condition, qualifying: columns.qualifying },
    limit: columns.limit_count === null ? null : { count: columns.limit_count, period: columns.limit_period },
    budgetPoints: columns.budget_points, priority: columns.priority, exclusive: columns.exclusive,
    startsAt: columns.starts_at, endsAt: columns.ends_at, active: columns.active,
  };
}

/** A draft rule, checked and compiled as if saved (for a simulation); it has no id and is never stored. */
export async function draftRule(input: EarningRuleInput, now: Date): Promise<RuleDefinition> {
  const { columns } = await checkRule(input);
  return compileRule({ id: `draft-${randomUUID()}`, version: 0, ...columns, budget_spent: 0, created_at: now, updated_at: now }, false);
}

export async function createRule(ctx: Ctx, input: EarningRuleInput): Promise<EarningRuleRow> {
  const { columns } = await checkRule(input);
  const now = await ctx.now();
  const id = randomUUID();
  await inTransaction(ctx.db, (tx) => repo.insertRule(tx, { id, version: 1, ...columns, created_at: now, updated_at: now }, definitionOf(columns)));
  invalidateProgram(ctx.db);
  return (await repo.findRule(ctx.db, id)) as EarningRuleRow;
}

/** A new version of the rule: the same id, version + 1; what earlier versions awarded stays as it was. */
export async function updateRule(ctx: Ctx, id: string, input: EarningRuleInput): Promise<EarningRuleRow> {
  const { columns } = await checkRule(input);
  const now = await ctx.now();
  await inTransaction(ctx.db, async (tx) => {
    const current = await lockedRule(tx, id);
    if (columns.budget_points !== null && columns.budget_points < current.budget_spent) {
      throw new BadInputError(`budgetPoints cannot be below what the rule has awarded (${current.budget_spent})`, 'budgetPoints');
    }
    await repo.updateRule(tx, id, { ...columns, version: current.version + 1, updated_at: now }, definitionOf(columns));
  });
  invalidateProgram(ctx.db);
  return (await repo.findRule(ctx.db, id)) as EarningRuleRow;
}

/** Turns a rule on or off; not a new version (the rule's terms are unchanged). */
export async function setRuleActive(ctx: Ctx, id: string, active: boolean): Promise<EarningRuleRow> {
  const now = await ctx.now();
  await inTransaction(ctx.db, async (tx) => {
    await lockedRule(tx, id);
    await repo.updateRule(tx, id, { active, updated_at: now }, null);
  });
  invalidateProgram(ctx.db);
  return (await repo.findRule(ctx.db, id)) as EarningRuleRow;
}

async function lockedRule(db: Db, id: string): Promise<EarningRuleRow> {
  const rule = isUuid(id) ? await repo.findRule(db, id, true) : undefined;
  if (!rule) throw new NotFoundError('Earning rule');
  return rule;
}

export function listRules(ctx: Ctx, activeOnly: boolean): Promise<EarningRuleRow[]> {
  return repo.listRules(ctx.db, activeOnly);
}

// Compiling: once per rule version, whichever request or instance first needs it.

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
      startsAt: row.starts_at, endsAt: row.ends_at, createdAt: row.created_at,
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
      const set = byTrigger.get(row.trigger) ?? { rules: [], readsPurchaseCount: false };
      set.rules.push(compileRule(row));
      set.readsPurchaseCount ||= /\bpurchaseCount\b/.test(`${row.condition ?? ''} ${row.item_condition ?? ''}`);
      byTrigger.set(row.trigger, set);
    }
    for (const set of byTrigger.values()) set.rules.sort(evaluationOrder);
    ruleSets.set(program, byTrigger);
  }
  return byTrigger.get(trigger) ?? { rules: [], readsPurchaseCount: false };
}

/** Whether the programme has active rules for `trigger`. */
export function hasRules(program: ProgramView, trigger: string): boolean {
  return program.rules.some((rule) => rule.trigger === trigger);
}

// Evaluating.

/** What the rules read besides the facts: a unit's view (budgets under lock), or a plain one (quotes). */
export interface RuleReads {
  db: Db;
  /** Each budget's points spent so far; in a unit, under the rules' row locks. */
  budgetsSpent(ruleIds: readonly string[]): Promise<Map<string, number>>;
}

/** The reads of a unit of work: a budget is read under its row's lock, so the locked way takes over an optimistic unit. */
export function unitReads(work: UnitOfWork): RuleReads {
  return {
    db: work.db,
    budgetsSpent: async (ids) => {
      work.requireLock();
      return repo.budgetsSpent(work.db, ids, true);
    },
  };
}

/** Plain reads, for a quote: they write nothing and lock nothing. */
export function plainReads(db: Db): RuleReads {
  return { db, budgetsSpent: (ids) => repo.budgetsSpent(db, ids, false) };
}

export interface PurchaseAct {
  kind: 'purchase';
  cents: bigint;
  currency: string;
  channel: string | null;
  orderId: string;
  partnerId: string | null;
  items: readonly { sku: string; category: string | null; quantity: number; unitPrice: string }[] | null;
}
export interface EventAct { kind: 'event'; type: string; attributes: Record<string, unknown> }

/** A rule's award, with what its budget had spent before it (null: no budget). */
export interface Award extends RuleAward { budgetSpentBefore: number | null }

/**
 * What the active rules award for `act` by `member` (tier `tierCode`) at `now`, in evaluation
 * order. Reads only what the candidate rules need: the purchase count when a rule reads it, the
 * member's awards for limited rules, the budgets of budgeted ones.
 */
export async function ruleAwards(
  reads: RuleReads, program: ProgramView, member: MemberRow, tierCode: () => Promise<string>, act: PurchaseAct | EventAct, now: Date,
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
  const budgeted = found.filter((c) => c.rule.budgetPoints !== null).map((c) => c.rule.id);
  const spent = budgeted.length > 0 ? await reads.budgetsSpent(budgeted) : new Map<string, number>();
  const budgets = new Map(found.map((c) => [c.rule.id, c.rule.budgetPoints]));
  const standing = (ruleId: string): Standing => {
    const budget = budgets.get(ruleId) ?? null;
    return { awards: counts.get(ruleId) ?? 0, budgetLeft: budget === null ? null : Math.max(0, budget - (spent.get(ruleId) ?? budget)) };
  };
  return settle(found, standing).awards.map((award) => ({
    ...award, budgetSpentBefore: budgets.get(award.ruleId) == null ? null : (spent.get(award.ruleId) ?? 0),
  }));
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
  const earnRate = toUnits(program.earn_rate, 4);
  if (act.kind === 'event') {
    context.event = new EventValue(act.type, celJson(act.attributes) as Record<string, unknown>);
    return { trigger: act.type, context, amountCents: 0n, items: [], earnRate, now };
  }
  const items = (act.items ?? []).map((item) => {
    const unitCents = toUnits(item.unitPrice, 2);
    return {
      value: new ItemValue(item.sku, item.category ?? '', BigInt(item.quantity), Number(fromUnits(unitCents, 2))),
      cents: unitCents * BigInt(item.quantity),
    };
  });
  context.purchase = new PurchaseValue(
    Number(fromUnits(act.cents, 2)), act.currency, act.channel ?? '', act.orderId, act.partnerId ?? '', items.map((i) => i.value),
  );
  return { trigger: PURCHASE_TRIGGER, context, amountCents: act.cents, items, earnRate, now };
}

/** The breakdown line of a rule's award. */
export function ruleComponent(award: RuleAward): EarnComponent {
  return { source: 'RULE', description: award.name, points: award.points, qualifyingPoints: award.qualifyingPoints, ruleId: award.ruleId, ruleVersion: award.ruleVersion };
}

/** Plans the awards' records (what limits count and what the entry was given by) and the budgets they spend. */
export function planAwards(work: UnitOfWork, memberId: string, txnId: string, awards: readonly Award[]): void {
  if (awards.length === 0) return;
  for (const award of awards) {
    if (award.budgetSpentBefore !== null) work.write(repo.spendBudget(award.ruleId, award.budgetSpentBefore + award.points));
  }
  work.write(repo.recordAwards(awards.map((award) => ({
    txn_id: txnId, rule_id: award.ruleId, rule_version: award.ruleVersion, member_id: memberId,
    points: award.points, qualifying_points: award.qualifyingPoints, awarded_at: work.now,
  }))));
}
