import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { MemberStatus, MemberTable } from '../db/schema';

export type MemberRow = Selectable<MemberTable>;

export async function findById(db: Db, id: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findByExternalId(db: Db, externalId: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('external_id', '=', externalId).executeTakeFirst();
}

export async function findByReferralCode(db: Db, code: string): Promise<MemberRow | undefined> {
  return db.selectFrom('members').selectAll().where('referral_code', '=', code).executeTakeFirst();
}

/**
 * Locks the member row for the rest of the transaction: the per-member serialisation point.
 * With `dueAt` the same statement also says whether any lot's expiry has passed by then.
 */
/**
 * Locks the member row. With `dueAt` it also reports whether any lot is past its expiry, and
 * with `probe` the answer to that question, in the same round trip.
 */
export async function lockById(
  db: Db, id: string, { dueAt, probe }: { dueAt?: Date; probe?: RawBuilder<boolean> } = {},
): Promise<(MemberRow & { has_due_lots?: boolean; probed?: boolean }) | undefined> {
  let query = db.selectFrom('members').selectAll().where('id', '=', id).forUpdate();
  if (dueAt) {
    query = query.select(sql<boolean>`exists (select 1 from point_lots l where l.member_id = members.id and l.remaining > 0 and l.expires_at <= ${dueAt})`.as('has_due_lots')) as typeof query;
  }
  if (probe) query = query.select(probe.as('probed')) as typeof query;
  return query.executeTakeFirst();
}

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

export async function list(db: Db, filter: ListFilter, limit: number, after?: { createdAt: Date; id: string }) {
  let query = db.selectFrom('members').selectAll();
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.search) {
    const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([eb('external_id', 'ilike', pattern), eb('email', 'ilike', pattern), eb('name', 'ilike', pattern)]),
    );
  }
  const total = await query.clearSelect().select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  if (after) {
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]),
    );
  }
  const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  return { rows, total: total.n };
}
