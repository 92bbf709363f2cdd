/**
 * Managing earning rules (ADMIN): each saved rule checked (its conditions parsed and
 * type-checked as CEL), versioned, switched on and off. Evaluating them is rules.awards.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Ctx } from '../context';
import type { Db } from '../db/database';
import { isUuid } from '../db/ids';
import type { EffectKind, LimitPeriod } from '../db/schema';
import { BadInputError, NotFoundError } from '../errors';
import { inTransaction } from '../db/transaction';
import { MAX_POINTS_PER_TRANSACTION } from '../ledger/ledger.rules';
import { checkDecimal, toUnits } from '../money';
import { invalidateProgram } from '../program/program.service';
import type { EarningRuleRow } from '../program/program.types';
import { celReady, compileCondition } from './cel';
import { compileRule } from './rules.awards';
import { PURCHASE_TRIGGER, SERVICE_EVENTS, type RuleDefinition } from './rules.engine';
import * as repo from './rules.repo';

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

/** A checked rule: the columns it is stored as. */
interface CheckedRule {
  columns: Omit<EarningRuleRow, 'id' | 'seq' | 'version' | 'budget_spent' | 'created_at' | 'updated_at'>;
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

/** A rule's terms as its version record keeps them (whether it is switched on is not a term). */
function definitionOf(columns: CheckedRule['columns']) {
  return {
    name: columns.name, trigger: columns.trigger, condition: columns.condition,
    effect: { kind: columns.effect_kind, points: columns.effect_points, rate: columns.effect_rate, itemCondition: columns.item_condition, qualifying: columns.qualifying },
    limit: columns.limit_count === null ? null : { count: columns.limit_count, period: columns.limit_period },
    budgetPoints: columns.budget_points, priority: columns.priority, exclusive: columns.exclusive,
    startsAt: columns.starts_at, endsAt: columns.ends_at,
  };
}

/** A draft rule, checked and compiled as if saved (for a simulation); it has no id and is never stored. */
export async function draftRule(input: EarningRuleInput, now: Date): Promise<RuleDefinition> {
  const { columns } = await checkRule(input);
  return compileRule({ id: `draft-${randomUUID()}`, seq: '0', version: 0, ...columns, budget_spent: 0, created_at: now, updated_at: now }, false);
}

/** An event type a caller may send: not PURCHASE, nor one the service sends itself (signup, birthday). */
export function checkEventType(value: string): string {
  const type = checkTrigger(value, 'type');
  if (type === PURCHASE_TRIGGER) throw new BadInputError('a purchase is recorded by recordPurchase, not as an event', 'type');
  if (SERVICE_EVENTS.includes(type)) throw new BadInputError(`${type} events are sent by the service itself`, 'type');
  return type;
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

