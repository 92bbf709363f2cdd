import type { Insertable, Updateable } from 'kysely';
import { CompiledQuery, sql } from 'kysely';
import { inTransaction } from '../db/transaction';
import type { Db } from '../db/database';
import type { EarningRuleTable } from '../db/schema';
import type { RowWrite } from '../ledger/unit-of-work';
import type { EarningRuleRow } from '../program/program.types';

export async function listRules(db: Db, activeOnly: boolean): Promise<EarningRuleRow[]> {
  let query = db.selectFrom('earning_rules').selectAll();
  if (activeOnly) query = query.where('active', '=', true);
  return query.orderBy('priority', 'desc').orderBy('seq', 'asc').execute();
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

/**
 * The awards each rule made the member since its limit period began (null: ever): the member's
 * ledger entries that name the rule (their rule_awards), as the unit of work wrote them.
 */
export async function awardCounts(db: Db, memberId: string, asks: readonly { ruleId: string; since: Date | null }[]): Promise<Map<string, number>> {
  if (asks.length === 0) return new Map();
  const counts = asks.map((a) => sql<number>`(select count(*)::int from points_transactions t
    where t.member_id = ${memberId} and t.rule_awards @> ${JSON.stringify([{ ruleId: a.ruleId }])}::jsonb
      and t.created_at >= ${a.since ?? new Date(0)})`);
  const { rows } = await sql<{ counts: number[] }>`select array[${sql.join(counts)}] as counts`.execute(db);
  return new Map(asks.map((a, i) => [a.ruleId, rows[0]?.counts[i] ?? 0]));
}

/** A rule's budget as it stands, with the terms it stands under. */
export interface BudgetState { spent: number; budget: number | null; active: boolean; version: number }

/** The rules' budgets (lock: under the rules' row locks, taken in id order, for the rest of the transaction). */
export async function budgetStates(db: Db, ruleIds: readonly string[], lock: boolean): Promise<Map<string, BudgetState>> {
  if (ruleIds.length === 0) return new Map();
  const query = db.selectFrom('earning_rules').select(['id', 'budget_spent', 'budget_points', 'active', 'version'])
    .where('id', 'in', [...ruleIds].sort()).orderBy('id');
  const rows = await (lock ? query.forUpdate() : query).execute();
  return new Map(rows.map((r) => [r.id, { spent: r.budget_spent, budget: r.budget_points, active: r.active, version: r.version }]));
}

/** Raises a rule's spent budget to `spent` (read under the row's lock). */
export function spendBudget(ruleId: string, spent: number): RowWrite {
  return { update: 'earning_rules', set: { budget_spent: spent }, where: { id: ruleId } };
}

/** How many orders the member has recorded. */
export async function purchaseCount(db: Db, memberId: string): Promise<number> {
  const row = await db.selectFrom('orders').select((eb) => eb.fn.countAll<string>().as('n')).where('member_id', '=', memberId).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Active members born on one of `days` ([month, day]) whose `year` birthday event is not recorded
 * yet (its key is `birthday:<member id>:<year>`), by id after `after`.
 */
export async function birthdayMembers(db: Db, days: readonly [number, number][], year: number, after: string | null, limit: number): Promise<string[]> {
  const born = sql.join(days.map(([month, day]) => sql`(${month}::numeric, ${day}::numeric)`));
  let query = db.selectFrom('members as m').select('m.id')
    .where('m.status', '=', 'ACTIVE')
    .where(sql<boolean>`(extract(month from m.birth_date), extract(day from m.birth_date)) in (${born})`)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('member_events as e').select('e.id')
      .where('e.scope', '=', 'system')
      .where('e.idempotency_key', '=', sql<string>`'birthday:' || m.id || ':' || ${String(year)}`))));
  if (after) query = query.where('m.id', '>', after);
  return (await query.orderBy('m.id').limit(limit).execute()).map((r) => r.id);
}

/** What a dry run reads of a member with each purchase or event (instants as epoch milliseconds: cheaper to read by the million). */
export interface ReplayedMember { member_id: string; tags: string[] | null; enrolled_ms: number; birth_date: string | null; tier_code: string | null }
export type ReplayedOrder = ReplayedMember & {
  order_id: string; partner_id: string | null; amount: string; currency: string; channel: string | null; items: unknown; occurred_ms: number;
};
export type ReplayedEvent = ReplayedMember & { id: string; type: string; attributes: unknown; occurred_ms: number };

/** What a dry run can leave unread when its rule does not look at it: the items, the member's tags, the member at all. */
export interface ReplayReads { items: boolean; tags: boolean; member: boolean }

/**
 * Hands `each` the orders recorded in [from, to), in time order, a page at a time, from one
 * ordered scan (a cursor in a read-only transaction: one sort, rather than an index walk that
 * visits the orders' pages in time order, which is not the order they were written in).
 */
export async function replayOrders(
  db: Db, from: Date, to: Date, reads: ReplayReads, pageSize: number, each: (page: ReplayedOrder[]) => void,
): Promise<void> {
  const orders = db.selectFrom('orders as o')
    .select(['o.order_id', 'o.member_id', 'o.partner_id', 'o.amount', 'o.currency', 'o.channel'])
    .select(reads.items ? sql<unknown>`o.items`.as('items') : sql<unknown>`null`.as('items'))
    .select(sql<number>`(extract(epoch from o.occurred_at) * 1000)::float8`.as('occurred_ms'))
    .where('o.occurred_at', '>=', from).where('o.occurred_at', '<', to)
    .orderBy('o.occurred_at').orderBy(sql`o.order_id collate "C"`);
  const query = reads.member
    ? orders.innerJoin('members as m', 'm.id', 'o.member_id').leftJoin('member_tiers as t', 't.member_id', 'o.member_id').select(memberReads(reads))
    : orders.select(noMember);
  await replay(db, query, pageSize, each);
}

/** The events of `type` recorded in [from, to), likewise. */
export async function replayEvents(
  db: Db, type: string, from: Date, to: Date, reads: ReplayReads, pageSize: number, each: (page: ReplayedEvent[]) => void,
): Promise<void> {
  const query = db.selectFrom('member_events as e').innerJoin('members as m', 'm.id', 'e.member_id').leftJoin('member_tiers as t', 't.member_id', 'e.member_id')
    .select(['e.id', 'e.member_id', 'e.type', 'e.attributes'])
    .select([sql<number>`(extract(epoch from e.occurred_at) * 1000)::float8`.as('occurred_ms'), ...memberReads(reads)])
    .where('e.type', '=', type).where('e.occurred_at', '>=', from).where('e.occurred_at', '<', to)
    .orderBy('e.occurred_at').orderBy('e.id');
  await replay(db, query, pageSize, each);
}

/** The member's columns of a replayed row (m: members, t: member_tiers). */
function memberReads(reads: ReplayReads) {
  return [
    reads.tags ? sql<string[] | null>`m.tags`.as('tags') : sql<string[] | null>`null`.as('tags'),
    sql<number>`(extract(epoch from m.enrolled_at) * 1000)::float8`.as('enrolled_ms'),
    sql<string | null>`m.birth_date::text`.as('birth_date'),
    sql<string | null>`t.tier_code`.as('tier_code'),
  ];
}

/** The same columns, empty, for a rule that reads nothing of the member. */
const noMember = [
  sql<string[] | null>`null`.as('tags'), sql<number>`0::float8`.as('enrolled_ms'),
  sql<string | null>`null`.as('birth_date'), sql<string | null>`null`.as('tier_code'),
];

async function replay<Row>(db: Db, query: { compile(): CompiledQuery }, pageSize: number, each: (page: Row[]) => void): Promise<void> {
  const { sql: text, parameters } = query.compile();
  await inTransaction(db, async (tx) => {
    // A cursor otherwise plans for its first rows (an index walk); the whole range is wanted.
    await sql`set local cursor_tuple_fraction = 1`.execute(tx);
    await sql`set local work_mem = '64MB'`.execute(tx);
    await tx.executeQuery(CompiledQuery.raw(`declare replay no scroll cursor for ${text}`, [...parameters]));
    const fetch = () => tx.executeQuery<Row>(CompiledQuery.raw(`fetch ${pageSize} from replay`));
    // The next page is asked for before this one is handed over: the database reads while the caller works.
    for (let next = fetch(); ;) {
      const { rows } = await next;
      if (rows.length === pageSize) next = fetch();
      each(rows);
      if (rows.length < pageSize) return;
    }
  }, { attempts: 1 }); // `each` has counted what it was handed: never run twice
}

/** Each member's orders before `at`. */
export async function purchaseCountsBefore(db: Db, at: Date): Promise<Map<string, number>> {
  const rows = await db.selectFrom('orders').select(['member_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('occurred_at', '<', at).groupBy('member_id').execute();
  return new Map(rows.map((r) => [r.member_id, Number(r.n)]));
}
