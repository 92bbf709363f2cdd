import type { Insertable, Updateable } from 'kysely';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import type { EarningRuleTable, RuleAwardTable } from '../db/schema';
import type { RowWrite } from '../ledger/unit-of-work';
import type { EarningRuleRow } from '../program/program.types';

export async function listRules(db: Db, activeOnly: boolean): Promise<EarningRuleRow[]> {
  let query = db.selectFrom('earning_rules').selectAll();
  if (activeOnly) query = query.where('active', '=', true);
  return query.orderBy('priority', 'desc').orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
}

export async function findRule(db: Db, id: string, lock = false): Promise<EarningRuleRow | undefined> {
  const query = db.selectFrom('earning_rules').selectAll().where('id', '=', id);
  return (lock ? query.forUpdate() : query).executeTakeFirst();
}

/** Inserts a rule's first version, with its version record. */
export async function insertRule(db: Db, row: Insertable<EarningRuleTable>, definition: unknown): Promise<void> {
  await db.insertInto('earning_rules').values(row).execute();
  await recordVersion(db, row.id, row.version, definition, row.created_at as Date);
}

/** Writes a rule's new current version (the caller holds the row's lock), with its version record. */
export async function updateRule(db: Db, id: string, patch: Updateable<EarningRuleTable>, definition: unknown): Promise<void> {
  await db.updateTable('earning_rules').set(patch).where('id', '=', id).execute();
  if (patch.version !== undefined) await recordVersion(db, id, patch.version as number, definition, patch.updated_at as Date);
}

async function recordVersion(db: Db, ruleId: string, version: number, definition: unknown, at: Date): Promise<void> {
  await db.insertInto('earning_rule_versions').values({ rule_id: ruleId, version, definition: JSON.stringify(definition), created_at: at }).execute();
}

/** The awards each rule made the member since its limit period began (null: ever). */
export async function awardCounts(db: Db, memberId: string, asks: readonly { ruleId: string; since: Date | null }[]): Promise<Map<string, number>> {
  if (asks.length === 0) return new Map();
  const rows = await db.selectFrom('rule_awards')
    .select(['rule_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('member_id', '=', memberId)
    .where((eb) => eb.or(asks.map((a) => (a.since
      ? eb.and([eb('rule_id', '=', a.ruleId), eb('awarded_at', '>=', a.since)])
      : eb('rule_id', '=', a.ruleId)))))
    .groupBy('rule_id')
    .execute();
  return new Map(rows.map((r) => [r.rule_id, Number(r.n)]));
}

/** What each rule has spent of its budget (lock: under the rules' row locks, taken in id order, for the rest of the transaction). */
export async function budgetsSpent(db: Db, ruleIds: readonly string[], lock: boolean): Promise<Map<string, number>> {
  if (ruleIds.length === 0) return new Map();
  const query = db.selectFrom('earning_rules').select(['id', 'budget_spent'])
    .where('id', 'in', [...ruleIds].sort()).orderBy('id');
  const rows = await (lock ? query.forUpdate() : query).execute();
  return new Map(rows.map((r) => [r.id, r.budget_spent]));
}

/** Raises a rule's spent budget to `spent` (read under the row's lock). */
export function spendBudget(ruleId: string, spent: number): RowWrite {
  return { update: 'earning_rules', set: { budget_spent: spent }, where: { id: ruleId } };
}

export function recordAwards(rows: Insertable<RuleAwardTable>[]): RowWrite {
  return { insert: 'rule_awards', rows };
}

/** How many orders the member has recorded. */
export async function purchaseCount(db: Db, memberId: string): Promise<number> {
  const row = await db.selectFrom('orders').select((eb) => eb.fn.countAll<string>().as('n')).where('member_id', '=', memberId).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The rule versions that gave an entry its points. */
export async function awardsOfEntry(db: Db, txnId: string) {
  return db.selectFrom('rule_awards').select(['rule_id', 'rule_version', 'points', 'qualifying_points']).where('txn_id', '=', txnId).orderBy('rule_id').execute();
}

export async function ruleVersion(db: Db, ruleId: string, version: number) {
  return db.selectFrom('earning_rule_versions').selectAll().where('rule_id', '=', ruleId).where('version', '=', version).executeTakeFirst();
}

/**
 * Active members whose birthday is `monthDays` ("MM-DD") and whose `year` birthday event is not
 * recorded yet (its key is `birthday:<member id>:<year>`), by id after `after`.
 */
export async function birthdayMembers(db: Db, monthDays: readonly string[], year: number, after: string | null, limit: number): Promise<string[]> {
  let query = db.selectFrom('members as m').select('m.id')
    .where('m.status', '=', 'ACTIVE')
    .where(sql<string>`to_char(m.birth_date, 'MM-DD')`, 'in', [...monthDays])
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('member_events as e').select('e.id')
      .where('e.scope', '=', 'system')
      .where('e.idempotency_key', '=', sql<string>`'birthday:' || m.id || ':' || ${String(year)}`))));
  if (after) query = query.where('m.id', '>', after);
  return (await query.orderBy('m.id').limit(limit).execute()).map((r) => r.id);
}

/** What a dry run reads of a member with each purchase or event. */
export interface ReplayedMember { member_id: string; tags: string[]; enrolled_at: Date; birth_date: string | null; tier_code: string | null }
export type ReplayedOrder = ReplayedMember & {
  order_id: string; partner_id: string | null; amount: string; currency: string; channel: string | null; items: unknown; occurred_at: Date;
};
export type ReplayedEvent = ReplayedMember & { id: string; type: string; attributes: unknown; occurred_at: Date };

/** The orders recorded in [from, to), in time order, a page at a time after `after` (occurred_at, order_id). */
export async function ordersIn(db: Db, from: Date, to: Date, after: { at: Date; id: string } | null, limit: number): Promise<ReplayedOrder[]> {
  let query = db.selectFrom('orders as o').innerJoin('members as m', 'm.id', 'o.member_id').leftJoin('member_tiers as t', 't.member_id', 'o.member_id')
    .select(['o.order_id', 'o.member_id', 'o.partner_id', 'o.amount', 'o.currency', 'o.channel', 'o.items', 'o.occurred_at', 'm.tags', 'm.enrolled_at', 'm.birth_date', 't.tier_code'])
    .where('o.occurred_at', '>=', from).where('o.occurred_at', '<', to);
  if (after) query = query.where((eb) => eb(eb.refTuple('o.occurred_at', 'o.order_id'), '>', eb.tuple(after.at, after.id)));
  return query.orderBy('o.occurred_at').orderBy('o.order_id').limit(limit).execute() as Promise<ReplayedOrder[]>;
}

/** The events of `type` recorded in [from, to), likewise. */
export async function eventsIn(db: Db, type: string, from: Date, to: Date, after: { at: Date; id: string } | null, limit: number): Promise<ReplayedEvent[]> {
  let query = db.selectFrom('member_events as e').innerJoin('members as m', 'm.id', 'e.member_id').leftJoin('member_tiers as t', 't.member_id', 'e.member_id')
    .select(['e.id', 'e.member_id', 'e.type', 'e.attributes', 'e.occurred_at', 'm.tags', 'm.enrolled_at', 'm.birth_date', 't.tier_code'])
    .where('e.type', '=', type).where('e.occurred_at', '>=', from).where('e.occurred_at', '<', to);
  if (after) query = query.where((eb) => eb(eb.refTuple('e.occurred_at', 'e.id'), '>', eb.tuple(after.at, after.id)));
  return query.orderBy('e.occurred_at').orderBy('e.id').limit(limit).execute() as Promise<ReplayedEvent[]>;
}

/** Each member's orders before `at`. */
export async function purchaseCountsBefore(db: Db, at: Date): Promise<Map<string, number>> {
  const rows = await db.selectFrom('orders').select(['member_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('occurred_at', '<', at).groupBy('member_id').execute();
  return new Map(rows.map((r) => [r.member_id, Number(r.n)]));
}
