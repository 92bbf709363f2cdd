import { CompiledQuery, sql } from 'kysely';
import type { Db } from '../db/database';
import { isoUtc, outboxOf } from '../db/outbox';
import { newestFirst } from '../db/pages';
import { Params, ident } from '../db/sql-text';
import { inTransaction } from '../db/transaction';
import { ShapedStatement } from '../db/shaped';
import type { CountedPage } from '../graphql/pagination';
import type { MemberStatus } from '../db/schema';
import type { MemberRow } from '../db/rows';

export { memberFromJson, type MemberRow } from '../db/rows';

/** The read of a member by id, the most frequent statement: compiled once (db/shaped.ts). */
const BY_ID = new ShapedStatement<{ id: string }, null, MemberRow>(() => '', (v) => sql<MemberRow>`select * from members where id = ${v.id}`);

export async function findById(db: Db, id: string): Promise<MemberRow | undefined> {
  return (await BY_ID.execute(db, null, { id }))[0];
}

export async function findByIds(db: Db, ids: readonly string[]): Promise<MemberRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('members').selectAll().where('id', 'in', [...ids]).execute();
}

export async function findByExternalId(db: Db, externalId: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('external_id', '=', externalId).executeTakeFirst();
}

export async function findByReferralCode(db: Db, code: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('referral_code', '=', code).executeTakeFirst();
}

/** A page of the member list; the total is counted only if the query selects totalCount. */
export type MemberPageView = CountedPage<MemberRow>;

export type NewMember = Omit<MemberRow, 'debt' | 'lifetime_earned' | 'lifetime_redeemed' | 'expired' | 'last_activity_at' | 'status' | 'status_reason' | 'tags' | 'erased_at'>;

/**
 * Inserts unless the externalId exists, with its member.enrolled event (db/outbox.ts) in the same
 * statement; returns undefined when another enrolment won.
 */
export async function insertIfAbsent(db: Db, member: NewMember): Promise<MemberRow | undefined> {
  const p = new Params();
  const columns = Object.keys(member) as (keyof NewMember)[];
  const ctes = [
    `m as (insert into members (${columns.map(ident).join(', ')}) values (${columns.map((c) => p.add(member[c])).join(', ')})
      on conflict (external_id) do nothing returning *)`,
    ...outboxOf(`select gen_random_uuid(), 'member.enrolled', m.id,
      jsonb_build_object('memberId', m.id, 'externalId', m.external_id, 'enrolledAt', ${isoUtc('m.enrolled_at')}, 'referredBy', m.referred_by), m.created_at from m`),
  ];
  const { rows } = await db.executeQuery<MemberRow>(CompiledQuery.raw(`with ${ctes.join(',\n')} select * from m`, p.values));
  return rows[0];
}

export type MemberPatch = Partial<Pick<MemberRow, 'email' | 'name' | 'birth_date' | 'phone' | 'locale' | 'status' | 'status_reason' | 'tags'>>;

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
  const rows = await newestFirst(matching, limit, after && [after.createdAt, after.id]);
  const total = async () => (await matching.clearSelect().select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow()).n;
  return { rows, total };
}

/** Everything held about a member, table by table (exportMemberData). */
export async function memberData(db: Db, id: string) {
  const [transactions, orders, refunds, events, tier, tierHistory, referrals] = await Promise.all([
    db.selectFrom('points_transactions').selectAll().where('member_id', '=', id).orderBy('seq').execute(),
    db.selectFrom('orders').selectAll().where('member_id', '=', id).orderBy('occurred_at').execute(),
    db.selectFrom('refunds').selectAll().where('member_id', '=', id).orderBy('created_at').execute(),
    db.selectFrom('member_events').selectAll().where('member_id', '=', id).orderBy('occurred_at').execute(),
    db.selectFrom('member_tiers').selectAll().where('member_id', '=', id).executeTakeFirst(),
    db.selectFrom('tier_history').selectAll().where('member_id', '=', id).orderBy('seq').execute(),
    // The member's referrals either way: those it made and the one that brought it.
    db.selectFrom('referrals').selectAll().where((eb) => eb.or([eb('referrer_id', '=', id), eb('referee_id', '=', id)]))
      .orderBy('created_at').orderBy('id').execute(),
  ]);
  return { transactions, orders, refunds, events, tier: tier ?? null, tierHistory, referrals };
}

/**
 * Erases the member's personal data for good, in one transaction: profile fields cleared, the
 * external id replaced, tags and event attributes emptied, the account closed. The ledger's
 * amounts stay, so balances, liability and verify-ledger still add up.
 */
export async function erase(db: Db, id: string, reason: string, now: Date): Promise<MemberRow | undefined> {
  return inTransaction(db, async (tx) => {
    const erased = await tx.updateTable('members').set({
      email: null, name: null, birth_date: null, phone: null, locale: null, tags: [],
      external_id: `erased:${id}`, status: 'CLOSED', status_reason: reason, erased_at: now, updated_at: now,
    }).where('id', '=', id).returningAll().executeTakeFirst();
    await tx.updateTable('member_events').set({ attributes: '{}' }).where('member_id', '=', id).execute();
    return erased;
  });
}
