import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from '../db/database';
import { ShapedStatement } from '../db/shaped';
import type { CountedPage } from '../graphql/pagination';
import type { MemberStatus, MemberTable } from '../db/schema';
import { metricsQuery, type MetricsRow } from '../tiers/tiers.repo';
import type { Window } from '../tiers/tiers.rules';

export type MemberRow = Selectable<MemberTable>;

/**
 * A member row as to_json gives it (timestamps as ISO text), typed as the driver types a
 * selected row. The object the driver parsed is converted in place: nothing else holds it.
 */
export function memberFromJson(json: Record<string, unknown>): MemberRow {
  const at = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));
  json.enrolled_at = at(json.enrolled_at);
  json.created_at = at(json.created_at);
  json.updated_at = at(json.updated_at);
  json.last_activity_at = at(json.last_activity_at);
  return json as unknown as MemberRow;
}

/** The read of a member by id, the most frequent statement: compiled once (db/shaped.ts). */
const BY_ID = new ShapedStatement<{ id: string }, null, MemberRow>(() => '', (v) => sql<MemberRow>`select * from members where id = ${v.id}`);

export async function findById(db: Db, id: string): Promise<MemberRow | undefined> {
  return (await BY_ID.execute(db, null, { id }))[0];
}

export async function findByExternalId(db: Db, externalId: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('external_id', '=', externalId).executeTakeFirst();
}

export async function findByReferralCode(db: Db, code: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('referral_code', '=', code).executeTakeFirst();
}

/** The columns of CTE `m` (lockedMemberCte). */
const LOCKED = sql`members.id, members.status, members.debt, members.updated_at, members.enrolled_at,
  members.xmin::text = (select s.xmin::text from members s where s.id = members.id) as unchanged`;

/**
 * The member's row locked inside a one-statement write (ledger redeem.repo, purchase.repo), as
 * CTE `m`: id, status, debt, updated_at, enrolled_at, and `unchanged`, whether the row locked is the version
 * the statement's snapshot saw. Under READ COMMITTED a statement that waited for the lock reads
 * the row's newest version but everything else from its snapshot; since every change to a
 * member's lots, orders or tier state also writes the member's row, the statement may trust the
 * rest of what it read only when `unchanged` holds (as lockMemberProbing does, in ledger.core).
 */
export function lockedMemberCte(memberId: string | RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`m as (select ${LOCKED} from members where members.id = ${memberId} for update)`;
}

/**
 * lockedMemberCte for several members at once (`ids`, a uuid[]): one row each, locked in the
 * order of their ids, so two statements that lock members this way never wait for each other
 * in a circle.
 */
export function lockedMembersCte(ids: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`m as (select ${LOCKED} from members where members.id = any(${ids}) order by members.id for update)`;
}

/** What the member lock may read in its own statement (see lockById). */
export interface LockReads {
  /** Also report whether any lot is past its expiry at this instant. */
  dueAt?: Date;
  /** Also answer this yes/no question. */
  probe?: RawBuilder<boolean>;
  /** Also read the lots spendable at this instant (JSON). */
  lotsAt?: Date;
  /** Also read the member's stored tier state (JSON, null when none). */
  tierState?: boolean;
  /**
   * Also read the member's tier metrics (tiers.repo metricsQuery) for this window and instant,
   * unless the stored tier is one of `unlessTierIn` with no grace running (null then).
   */
  metrics?: { window: Window; knownAt: Date; unlessTierIn?: string[] };
}

export type LockedRow = MemberRow & {
  has_due_lots?: boolean; probed?: boolean; open_lots?: unknown[] | null; tier_state?: Record<string, unknown> | null;
  window_metrics?: MetricsRow | null;
  /** Whether the row locked is the version the statement's snapshot saw (see ledger.core). */
  unchanged?: boolean;
};

/**
 * Locks the member row for the rest of the transaction (the per-member serialisation point)
 * and, in the same round trip, reads what `reads` asks for. Those reads
 * come from the statement's snapshot, taken before any wait for the lock; `unchanged` says
 * whether a writer committed a new version of the row in between.
 */
export async function lockById(db: Db, id: string, { dueAt, probe, lotsAt, tierState, metrics }: LockReads = {}): Promise<LockedRow | undefined> {
  let query = db.selectFrom('members').selectAll().where('id', '=', id).forUpdate();
  const extra = (expression: RawBuilder<unknown>, name: string) => {
    query = query.select(expression.as(name)) as typeof query;
  };
  if (dueAt) extra(sql`exists (select 1 from point_lots l where l.member_id = members.id and l.remaining > 0 and l.expires_at <= ${dueAt})`, 'has_due_lots');
  if (probe) extra(probe, 'probed');
  if (lotsAt || tierState || metrics) extra(sql`members.xmin::text = (select s.xmin::text from members s where s.id = members.id)`, 'unchanged');
  if (lotsAt) {
    extra(sql`(select json_agg(json_build_object('id', l.id, 'remaining', l.remaining, 'expires_at', l.expires_at, 'earned_at', l.earned_at))
      from point_lots l where l.member_id = members.id and l.remaining > 0 and l.available_at <= ${lotsAt}
        and (l.expires_at is null or l.expires_at > ${lotsAt}))`, 'open_lots');
  }
  if (tierState) extra(sql`(select row_to_json(t) from member_tiers t where t.member_id = members.id)`, 'tier_state');
  if (metrics) {
    const skip = metrics.unlessTierIn?.length
      ? sql`exists (select 1 from member_tiers t where t.member_id = members.id and t.grace_until is null and t.tier_code = any(${metrics.unlessTierIn}::text[]))`
      : sql`false`;
    extra(sql`case when not ${skip} then (select row_to_json(m) from (${metricsQuery(sql.ref('members.id'), metrics.window, metrics.knownAt)}) m) end`, 'window_metrics');
  }
  return query.executeTakeFirst() as Promise<LockedRow | undefined>;
}

/** A page of the member list; the total is counted only if the query selects totalCount. */
export type MemberPageView = CountedPage<MemberRow>;

export type NewMember = Omit<MemberRow, 'debt' | 'lifetime_earned' | 'lifetime_redeemed' | 'expired' | 'last_activity_at' | 'status' | 'status_reason'>;

/** Inserts unless the externalId exists; returns undefined when another enrolment won. */
export async function insertIfAbsent(db: Db, member: NewMember): Promise<MemberRow | undefined> {
  return db
    .insertInto('members')
    .values(member)
    .onConflict((oc) => oc.column('external_id').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export type MemberPatch = Partial<Pick<MemberRow, 'email' | 'name' | 'birth_date' | 'phone' | 'locale' | 'status' | 'status_reason'>>;

export async function update(db: Db, id: string, patch: MemberPatch, now: Date): Promise<MemberRow | undefined> {
  return db
    .updateTable('members')
    .set({ ...patch, updated_at: now })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export interface ListFilter {
  search?: string | null;
  status?: MemberStatus | null;
}

/**
 * A page of members (limit + 1 rows, to tell whether more follow) and, counted only if asked
 * for, how many match the filter: counting every member takes seconds at a million.
 */
export async function list(db: Db, filter: ListFilter, limit: number, after?: { createdAt: Date; id: string }) {
  let matching = db.selectFrom('members').selectAll();
  if (filter.status) matching = matching.where('status', '=', filter.status);
  if (filter.search) {
    const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    matching = matching.where((eb) =>
      eb.or([eb('external_id', 'ilike', pattern), eb('email', 'ilike', pattern), eb('name', 'ilike', pattern)]),
    );
  }
  const page = after
    ? matching.where((eb) =>
      eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]))
    : matching;
  const rows = await page.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const total = async () => (await matching.clearSelect().select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow()).n;
  return { rows, total };
}
