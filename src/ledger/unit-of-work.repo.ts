/**
 * The SQL of the unit of work (unit-of-work.ts): the read of a member that starts it and the
 * statement that writes what it planned. Every row of the ledger (entries, lots, draws on lots)
 * is written here and nowhere else.
 */
import { CompiledQuery, type Insertable, type Updateable } from 'kysely';
import type { Embedded } from '../db/ahead';
import type { Db } from '../db/database';
import type { MemberRow } from '../db/rows';
import type { DB, LotAllocationTable, PointLotTable, PointsTransactionTable } from '../db/schema';
import { outboxCtes, type OutboxEvent } from '../db/outbox';
import { Params, ident, type SqlText } from '../db/sql-text';
import { executeLast } from '../db/transaction';
import { AppError, WRITE_NOT_KEPT, pgErrorCode, type ErrorCode } from '../errors';

/**
 * A row the unit writes for a domain (an order, an idempotency record, a tier state): an insert
 * of rows, or an update of the rows whose columns equal `where`. Plain data: the unit's statement
 * is assembled from it (db/sql-text.ts).
 */
export type RowWrite =
  | { [T in keyof DB]: { insert: T; rows: readonly Insertable<DB[T]>[] } }[keyof DB]
  | { [T in keyof DB]: { update: T; set: Updateable<DB[T]>; where: { [C in keyof DB[T]]?: unknown }; orElse?: Refusal } }[keyof DB]
  | { [T in keyof DB]: CountWrite<T> }[keyof DB];

/**
 * What the unit answers when a write that must change a row finds none (an update with `orElse`,
 * a count at its cap): the whole statement fails (SQLSTATE MP410, migration 014) and nothing of
 * the unit is written.
 */
export interface Refusal { code: ErrorCode; message: string }

/**
 * Adds `by` to a count column of the row matching `where`, only while the count stays within the
 * row's `cap` column (null: no cap), or the unit is refused with `orElse`: a limited quantity (a
 * reward's stock) is taken with the points, under any concurrency, or not at all.
 */
export interface CountWrite<T extends keyof DB> {
  count: T;
  column: keyof DB[T] & string;
  by: number;
  cap?: keyof DB[T] & string;
  where: { [C in keyof DB[T]]?: unknown };
  orElse: Refusal;
}

export interface MemberReadOptions {
  /** Lock the row for the rest of the transaction (the locked unit); otherwise read a snapshot. */
  lock: boolean;
  /** The instant the due-lot flag and the spendable lots are read at. */
  at: Date;
  /** Also read the lots spendable at `at`: the first LOTS_READ in consumption order, and what all of them hold. */
  lots: boolean;
  /** A yes/no question answered in the same statement ("is this request already done?"). */
  probe?: SqlText | undefined;
  /** More columns, read in the same statement (a domain's reads about the member, as `m`). */
  extras: readonly SqlText[];
  /** The request's rate-limit count, run inside the read (snapshot reads only). */
  count?: Embedded | null;
}

export interface MemberRead {
  /** Undefined when there is no such member. */
  member: MemberRow | undefined;
  /** The row's version (xmin) as read: the optimistic unit writes only while it is unchanged. */
  version: string | null;
  hasDueLots: boolean;
  probed: boolean;
  openLots: LotsRead | null;
  extras: unknown[];
  /**
   * Whether a locked row is the version the statement's snapshot saw. Under READ COMMITTED a
   * statement that waited for the lock reads the row's newest version but everything else from
   * its snapshot; every change to a member's lots, entries, orders or tier state also writes the
   * member's row, so the rest of what it read holds only when this is true.
   */
  unchanged: boolean;
  /** The count's row, for its verdict. */
  counted: Record<string, unknown> | null;
}

/** How many of a member's spendable lots the member read takes: a debit rarely draws on more. */
export const LOTS_READ = 16;

/** A member's spendable lots as the member read takes them. */
export interface LotsRead {
  /** The first LOTS_READ lots in consumption order (ledger.rules consumptionOrder), or all when fewer. */
  lots: { id: string; remaining: number; expires_at: string | null; earned_at: string }[];
  /** How many lots are spendable, and the points they hold, all of them. */
  count: number;
  total: number;
}

/**
 * Reads a member (locked or as a snapshot) and, in the same round trip, what the unit will need:
 * whether any lot is due, the spendable lots, the answer to `probe` and `extras`.
 */
export async function readMember(db: Db, id: string, o: MemberReadOptions): Promise<MemberRead> {
  const p = new Params();
  const count = o.count ? `with c as (${p.splice(o.count)}) ` : '';
  const at = p.add(o.at);
  const columns = [
    'm.xmin::text as row_version',
    `exists (select 1 from point_lots l where l.member_id = m.id and l.remaining > 0 and l.expires_at <= ${at}) as has_due_lots`,
    `${o.probe ? p.splice(o.probe) : 'false'} as probed`,
    // The order is consumptionOrder's: soonest expiry first (never last), then oldest, then id
    // (uuids compare byte by byte, as their lower-case text does; instants are whole milliseconds).
    o.lots
      ? `(select json_build_object('count', coalesce(max(h.n), 0), 'total', coalesce(max(h.total), 0),
            'lots', coalesce(json_agg(json_build_object('id', h.id, 'remaining', h.remaining, 'expires_at', h.expires_at, 'earned_at', h.earned_at)
              order by h.expires_at nulls last, h.earned_at, h.id), '[]'))
          from (select l.id, l.remaining, l.expires_at, l.earned_at, count(*) over () as n, sum(l.remaining) over () as total
            from point_lots l where l.member_id = m.id and l.remaining > 0 and l.available_at <= ${at}
              and (l.expires_at is null or l.expires_at > ${at})
            order by l.expires_at nulls last, l.earned_at, l.id limit ${LOTS_READ}) h) as open_lots`
      : 'null as open_lots',
    o.lock ? 'm.xmin::text = (select s.xmin::text from members s where s.id = m.id) as unchanged' : 'true as unchanged',
    ...o.extras.map((extra, i) => `${p.splice(extra)} as x${i}`),
  ].join(', ');
  const member = p.add(id);
  const text = o.count
    ? `${count}select m.*, ${columns}, (select to_json(c) from c) as counted from (select 1) one left join members m on m.id = ${member}`
    : `select m.*, ${columns}, null as counted from members m where m.id = ${member}${o.lock ? ' for update' : ''}`;
  const row = (await db.executeQuery<Row>(CompiledQuery.raw(text, p.values))).rows[0];
  const { row_version, has_due_lots, probed, open_lots, unchanged, counted, ...rest } = row ?? ({} as Row);
  const extras = o.extras.map((_, i) => (rest as Record<string, unknown>)[`x${i}`]);
  for (let i = 0; i < o.extras.length; i++) delete (rest as Record<string, unknown>)[`x${i}`];
  const found = row && (rest as MemberRow).id ? (rest as MemberRow) : undefined;
  return {
    member: found, version: row_version ?? null, hasDueLots: has_due_lots === true, probed: probed === true,
    // Asked for and none open is an empty list, not "not read".
    openLots: o.lots ? ((open_lots as LotsRead | null) ?? { lots: [], count: 0, total: 0 }) : null, extras, unchanged: unchanged === true, counted: (counted as Record<string, unknown>) ?? null,
  };
}

type Row = MemberRow & {
  row_version: string | null; has_due_lots: boolean | null; probed: boolean | null; open_lots: unknown; unchanged: boolean | null;
  counted: unknown;
};

/** Lots with points left that are spendable at `at` (matured, not yet expired). */
export async function spendableLots(db: Db, memberId: string, at: Date) {
  return db.selectFrom('point_lots').select(['id', 'remaining', 'expires_at', 'earned_at'])
    .where('member_id', '=', memberId).where('remaining', '>', 0).where('available_at', '<=', at)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
    .execute();
}

/** Lots whose expiry has passed at `at` but that still hold points, oldest expiry first. */
export async function dueLots(db: Db, memberId: string, at: Date) {
  return db.selectFrom('point_lots').select(['id', 'remaining', 'expires_at'])
    .where('member_id', '=', memberId).where('remaining', '>', 0).where('expires_at', '<=', at)
    .orderBy('expires_at').orderBy('id')
    .execute();
}

/** What a unit of work writes, as the unit collected it. */
export interface Planned {
  entries: Insertable<PointsTransactionTable>[];
  lots: Insertable<PointLotTable>[];
  allocations: Insertable<LotAllocationTable>[];
  /** Points taken off existing lots, by lot id. */
  draws: Map<string, { memberId: string; points: number }>;
  /** Members whose aggregates changed, with their final values. */
  members: Map<string, MemberRow>;
  /** Members whose row is only marked changed (updated_at). */
  touched: Map<string, Date>;
  /** The domain's own rows (orders, idempotency records, tier state…); a function gives its row as the statement is assembled. */
  rows: (RowWrite | (() => RowWrite))[];
  /** The events the changes report (db/outbox.ts), in the order they happened. */
  events: OutboxEvent[];
}

export function emptyPlan(): Planned {
  return { entries: [], lots: [], allocations: [], draws: new Map(), members: new Map(), touched: new Map(), rows: [], events: [] };
}

export function isEmpty(p: Planned): boolean {
  return p.entries.length === 0 && p.lots.length === 0 && p.allocations.length === 0 && p.draws.size === 0
    && p.members.size === 0 && p.touched.size === 0 && p.rows.length === 0 && p.events.length === 0;
}

export interface WriteOptions {
  /** The transaction's last statement: COMMIT leaves with it (db/transaction.ts executeLast). */
  last: boolean;
  /**
   * The member row versions the unit decided on (an optimistic unit): the statement locks those
   * members and fails whole with MEMBER_CHANGED when any of them is no longer that version.
   */
  versions?: ReadonlyMap<string, string>;
}

const ENTRY_COLUMNS = ['id', 'member_id', 'type', 'points', 'qualifying_points', 'shortfall', 'available_at', 'description',
  'order_id', 'partner_id', 'actor', 'related_id', 'occurred_at', 'created_at', 'rule_awards'] as const;
const LOT_COLUMNS = ['id', 'member_id', 'txn_id', 'points', 'remaining', 'available_at', 'expires_at', 'earned_at'] as const;
const ALLOCATION_COLUMNS = ['member_id', 'txn_id', 'lot_id', 'points', 'kind'] as const;

/**
 * Writes the plan in one statement: each kind of row as one CTE, the member rows last. Returns
 * each new entry's sequence number by id. The CTEs need not run in the order written here: rows
 * whose order matters (entries, tier history) go in one insert each.
 */
export async function writePlan(db: Db, plan: Planned, { last, versions }: WriteOptions): Promise<Map<string, number>> {
  const p = new Params();
  const ctes: string[] = [];
  const guarded = versions !== undefined && versions.size > 0;
  if (guarded) {
    const pairs = [...versions].map(([id, version]) => `(${p.add(id)}::uuid, ${p.add(version)}::text)`).join(', ');
    ctes.push(`g as (select m.id from members m where (m.id, m.xmin::text) in (${pairs}) order by m.id for update)`);
    ctes.push(`ok as (select ledger_unchanged(count(*) = ${p.add(versions.size)}::int) as ok from g)`);
  }
  if (plan.entries.length > 0) ctes.push(`e as (${insert(p, 'points_transactions', ENTRY_COLUMNS, plan.entries)} returning id, seq)`);
  if (plan.lots.length > 0) ctes.push(`l as (${insert(p, 'point_lots', LOT_COLUMNS, plan.lots)})`);
  if (plan.allocations.length > 0) ctes.push(`a as (${insert(p, 'lot_allocations', ALLOCATION_COLUMNS, plan.allocations)})`);
  if (plan.draws.size > 0) {
    const draws = [...plan.draws].map(([lotId, d]) => `(${p.add(lotId)}::uuid, ${p.add(d.memberId)}::uuid, ${p.add(d.points)}::int)`).join(', ');
    ctes.push(`u as (update point_lots set remaining = point_lots.remaining - d.points
      from (values ${draws}) as d(id, member_id, points)
      where point_lots.id = d.id and point_lots.member_id = d.member_id)`);
  }
  const writes = plan.rows.map((row) => (typeof row === 'function' ? row() : row));
  const kept: string[] = [];
  writes.forEach((write, i) => {
    ctes.push(`r${i} as (${rowWrite(p, write)})`);
    if (refusalOf(write)) kept.push(`write_kept(exists (select 1 from r${i}), ${i})`);
  });
  if (plan.events.length > 0) ctes.push(...outboxCtes(p, plan.events));
  // The member rows are written after the guard has passed (they read `ok`): the guard's lock
  // must not meet a row this statement already changed.
  const after = guarded ? 'from ok where ok.ok and' : 'where';
  let n = 0;
  for (const member of plan.members.values()) {
    const { id, debt, lifetime_earned, lifetime_redeemed, expired, last_activity_at, updated_at } = member;
    ctes.push(`w${n++} as (update members set debt = ${p.add(debt)}::int, lifetime_earned = ${p.add(lifetime_earned)}::int,
      lifetime_redeemed = ${p.add(lifetime_redeemed)}::int, expired = ${p.add(expired)}::int,
      last_activity_at = ${p.add(last_activity_at)}::timestamptz, updated_at = ${p.add(updated_at)}::timestamptz
      ${after} members.id = ${p.add(id)}::uuid)`);
  }
  for (const [id, at] of plan.touched) {
    // A row written with its aggregates is marked already (one statement may write a row once).
    if (!plan.members.has(id)) ctes.push(`w${n++} as (update members set updated_at = ${p.add(at)}::timestamptz ${after} members.id = ${p.add(id)}::uuid)`);
  }
  const ok = guarded ? '(select ok from ok)' : 'true';
  const seqs = plan.entries.length > 0 ? '(select json_agg(json_build_array(e.id, e.seq)) from e)' : 'null';
  // The checks of the writes that must change a row are asked in the final select, which is
  // what makes them run.
  const checks = kept.length > 0 ? kept.join(' and ') : 'true';
  const statement = CompiledQuery.raw(`with ${ctes.join(',\n')}\nselect ${ok} as ok, ${checks} as kept, ${seqs} as seqs`, p.values);
  let rows: unknown[];
  try {
    rows = last ? await executeLast(db, statement) : (await db.executeQuery<{ seqs: unknown }>(statement)).rows;
  } catch (error) {
    const refused = pgErrorCode(error) === WRITE_NOT_KEPT ? refusalOf(writes[Number((error as { detail?: string }).detail)]) : undefined;
    if (refused) throw new AppError(refused.code, refused.message);
    throw error;
  }
  const written = ((rows[0] as { seqs?: unknown } | undefined)?.seqs ?? []) as [string, number][];
  return new Map(written.map(([id, seq]) => [id, Number(seq)]));
}

/** An insert of `rows` into `table`; a column a row leaves undefined takes its default. */
function insert(p: Params, table: string, columns: readonly string[], rows: readonly object[]): string {
  const tuples = rows.map((row) => {
    const values = row as Record<string, unknown>;
    return `(${columns.map((c) => (values[c] === undefined ? 'default' : p.add(values[c]))).join(', ')})`;
  });
  return `insert into ${ident(table)} (${columns.map(ident).join(', ')}) values ${tuples.join(', ')}`;
}

/** The refusal of a write that must change a row; undefined for any other. */
function refusalOf(write: RowWrite | undefined): Refusal | undefined {
  return write && ('count' in write || 'update' in write) ? write.orElse : undefined;
}

function rowWrite(p: Params, write: RowWrite): string {
  if ('count' in write) {
    const column = ident(write.column);
    const by = `${p.add(write.by)}::int`;
    const where = Object.entries(write.where).map(([c, v]) => `${ident(c)} = ${p.add(v)}`);
    const within = write.cap && write.by > 0 ? ` and (${ident(write.cap)} is null or ${column} + ${by} <= ${ident(write.cap)})` : '';
    return `update ${ident(write.count)} set ${column} = ${column} + ${by} where ${where.join(' and ')}${within} returning 1`;
  }
  if ('insert' in write) {
    const columns = [...new Set(write.rows.flatMap((row) => Object.keys(row)))];
    return insert(p, write.insert, columns, write.rows);
  }
  const set = Object.entries(write.set).filter(([, v]) => v !== undefined).map(([c, v]) => `${ident(c)} = ${p.add(v)}`);
  const where = Object.entries(write.where).map(([c, v]) => `${ident(c)} = ${p.add(v)}`);
  return `update ${ident(write.update)} set ${set.join(', ')} where ${where.join(' and ')}${write.orElse ? ' returning 1' : ''}`;
}

/**
 * Under the inactivity policy every open lot of a member shares one expiry: moves it. Runs at
 * once, not in the unit's statement, which may also draw on those lots.
 */
export async function setOpenLotsExpiry(db: Db, memberId: string, expiresAt: Date): Promise<void> {
  await db.updateTable('point_lots').set({ expires_at: expiresAt }).where('member_id', '=', memberId).where('remaining', '>', 0).execute();
}

/** Lots that fell due by `dueBy` while expiry was frozen get a new expiry. Runs at once, as setOpenLotsExpiry. */
export async function pushOverdueLots(db: Db, memberId: string, dueBy: Date, newExpiry: Date): Promise<void> {
  await db.updateTable('point_lots').set({ expires_at: newExpiry })
    .where('member_id', '=', memberId).where('remaining', '>', 0).where('expires_at', '<=', dueBy)
    .execute();
}
