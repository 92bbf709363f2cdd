/**
 * The SQL of the unit of work (unit-of-work.ts): the read of a member that starts it and the
 * statement that writes what it planned. Every row of the ledger (entries, lots, draws on lots)
 * is written here and nowhere else.
 */
import { sql, type Compilable, type Insertable, type OperationNodeSource, type QueryCreator, type RawBuilder } from 'kysely';
import { withParameters, type Embedded } from '../db/ahead';
import type { Db } from '../db/database';
import type { DB, LotAllocationTable, PointLotTable, PointsTransactionTable } from '../db/schema';
import { executeLast } from '../db/transaction';
import type { MemberRow } from '../db/rows';

/** A row write of the unit's statement (an INSERT or UPDATE without RETURNING), built on the query creator it is given. */
export type RowWrite = (qc: QueryCreator<DB>) => Compilable & OperationNodeSource;

export interface MemberReadOptions {
  /** Lock the row for the rest of the transaction (the locked unit); otherwise read a snapshot. */
  lock: boolean;
  /** The instant the due-lot flag and the spendable lots are read at. */
  at: Date;
  /** Also read the lots spendable at `at`. */
  lots: boolean;
  /** A yes/no question answered in the same statement ("is this request already done?"). */
  probe?: RawBuilder<boolean> | undefined;
  /** More columns, read in the same statement (a domain's reads about the member, as `m`). */
  extras: readonly RawBuilder<unknown>[];
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
  openLots: { id: string; remaining: number; expires_at: string | null; earned_at: string }[] | null;
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

/**
 * Reads a member (locked or as a snapshot) and, in the same round trip, what the unit will need:
 * whether any lot is due, the spendable lots, the answer to `probe` and `extras`.
 */
export async function readMember(db: Db, id: string, o: MemberReadOptions): Promise<MemberRead> {
  const columns: RawBuilder<unknown>[] = [
    sql`m.xmin::text as row_version`,
    sql`exists (select 1 from point_lots l where l.member_id = m.id and l.remaining > 0 and l.expires_at <= ${o.at}) as has_due_lots`,
    sql`${o.probe ?? sql`false`} as probed`,
    o.lots
      ? sql`(select json_agg(json_build_object('id', l.id, 'remaining', l.remaining, 'expires_at', l.expires_at, 'earned_at', l.earned_at))
          from point_lots l where l.member_id = m.id and l.remaining > 0 and l.available_at <= ${o.at}
            and (l.expires_at is null or l.expires_at > ${o.at})) as open_lots`
      : sql`null as open_lots`,
    o.lock ? sql`m.xmin::text = (select s.xmin::text from members s where s.id = m.id) as unchanged` : sql`true as unchanged`,
    ...o.extras.map((extra, i) => sql`${extra} as ${sql.raw(`x${i}`)}`),
  ];
  const query = o.count
    ? sql<Row>`with c as (${withParameters(o.count.text, o.count.values)})
        select m.*, ${sql.join(columns)}, (select to_json(c) from c) as counted
        from (select 1) one left join members m on m.id = ${id}`
    : sql<Row>`select m.*, ${sql.join(columns)}, null as counted from members m where m.id = ${id} ${o.lock ? sql`for update` : sql``}`;
  const row = (await query.execute(db)).rows[0];
  const { row_version, has_due_lots, probed, open_lots, unchanged, counted, ...rest } = row ?? ({} as Row);
  const extras = o.extras.map((_, i) => (rest as Record<string, unknown>)[`x${i}`]);
  for (let i = 0; i < o.extras.length; i++) delete (rest as Record<string, unknown>)[`x${i}`];
  const member = row && (rest as MemberRow).id ? (rest as MemberRow) : undefined;
  return {
    member, version: row_version ?? null, hasDueLots: has_due_lots === true, probed: probed === true,
    openLots: (open_lots as MemberRead['openLots']) ?? null, extras, unchanged: unchanged === true, counted: (counted as Record<string, unknown>) ?? null,
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
  /** The domain's own rows (orders, idempotency records, tier state…). */
  rows: RowWrite[];
}

export function emptyPlan(): Planned {
  return { entries: [], lots: [], allocations: [], draws: new Map(), members: new Map(), touched: new Map(), rows: [] };
}

export function isEmpty(p: Planned): boolean {
  return p.entries.length === 0 && p.lots.length === 0 && p.allocations.length === 0 && p.draws.size === 0
    && p.members.size === 0 && p.touched.size === 0 && p.rows.length === 0;
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

/**
 * Writes the plan in one statement: each kind of row as one CTE, the member rows last. Returns
 * each new entry's sequence number by id.
 */
export async function writePlan(db: Db, p: Planned, { last, versions }: WriteOptions): Promise<Map<string, number>> {
  let qc: QueryCreator<DB> = db;
  const cte = (name: string, body: (q: QueryCreator<DB>) => Compilable & OperationNodeSource) => {
    qc = qc.with(name, body as never) as unknown as QueryCreator<DB>;
  };
  const raw = (name: string, body: RawBuilder<unknown>) => {
    // A raw CTE body is not parenthesised by the builder.
    qc = qc.with(name, () => sql`(${body})` as never) as unknown as QueryCreator<DB>;
  };
  const guarded = versions && versions.size > 0;
  if (guarded) {
    const pairs = sql.join([...versions].map(([id, version]) => sql`(${id}::uuid, ${version}::text)`));
    raw('g', sql`select m.id from members m where (m.id, m.xmin::text) in (${pairs}) order by m.id for update`);
    raw('ok', sql`select ledger_unchanged(count(*) = ${versions.size}::int) as ok from g`);
  }
  if (p.entries.length > 0) cte('e', (q) => q.insertInto('points_transactions').values(p.entries).returning(['id', 'seq']));
  if (p.lots.length > 0) cte('l', (q) => q.insertInto('point_lots').values(p.lots));
  if (p.allocations.length > 0) cte('a', (q) => q.insertInto('lot_allocations').values(p.allocations));
  if (p.draws.size > 0) {
    const draws = sql.join([...p.draws].map(([lotId, d]) => sql`(${lotId}::uuid, ${d.memberId}::uuid, ${d.points}::int)`));
    raw('u', sql`update point_lots set remaining = point_lots.remaining - d.points
      from (values ${draws}) as d(id, member_id, points)
      where point_lots.id = d.id and point_lots.member_id = d.member_id`);
  }
  p.rows.forEach((write, i) => cte(`r${i}`, write));
  // The member rows are written after the guard has passed (they read `ok`): the guard's lock
  // must not meet a row this statement already changed.
  const after = guarded ? sql`from ok where ok.ok and` : sql`where`;
  let n = 0;
  for (const member of p.members.values()) {
    const { id, debt, lifetime_earned, lifetime_redeemed, expired, last_activity_at, updated_at } = member;
    raw(`w${n++}`, sql`update members set debt = ${debt}::int, lifetime_earned = ${lifetime_earned}::int,
      lifetime_redeemed = ${lifetime_redeemed}::int, expired = ${expired}::int, last_activity_at = ${last_activity_at}::timestamptz,
      updated_at = ${updated_at}::timestamptz ${after} members.id = ${id}`);
  }
  for (const [id, at] of p.touched) {
    // A row written with its aggregates is marked already (one statement may write a row once).
    if (!p.members.has(id)) raw(`w${n++}`, sql`update members set updated_at = ${at}::timestamptz ${after} members.id = ${id}`);
  }
  const query = qc.selectNoFrom([
    (guarded ? sql<boolean>`(select ok from ok)` : sql<boolean>`true`).as('ok'),
    (p.entries.length > 0 ? sql<unknown>`(select json_agg(json_build_array(e.id, e.seq)) from e)` : sql<unknown>`null`).as('seqs'),
  ]);
  const rows = last ? await executeLast(db, query) : await query.execute();
  const seqs = (rows[0]?.seqs ?? []) as [string, number][];
  return new Map(seqs.map(([id, seq]) => [id, Number(seq)]));
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
