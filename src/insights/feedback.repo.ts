/** The SQL of feedback: survey answers and complaints. */
import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { ComplaintStatus, ComplaintTable, SurveyResponseTable } from '../db/schema';
import type { SqlText } from '../db/sql-text';
import type { RowWrite } from '../ledger/unit-of-work';

export type SurveyResponseRow = Selectable<SurveyResponseTable>;
export type ComplaintRow = Selectable<ComplaintTable>;

/** "Is this answer recorded?", as the unit of work's member read asks it. */
export function answerRecorded(scope: string, key: string): SqlText {
  return { text: 'exists (select 1 from survey_responses s where s.scope = $1 and s.idempotency_key = $2)', values: [scope, key] };
}

export async function findAnswer(db: Db, scope: string, key: string): Promise<SurveyResponseRow | undefined> {
  return db.selectFrom('survey_responses').selectAll().where('scope', '=', scope).where('idempotency_key', '=', key).executeTakeFirst();
}

export function insertAnswer(row: Insertable<SurveyResponseTable>): RowWrite {
  return { insert: 'survey_responses', rows: [row] };
}

export function complaintFiled(scope: string, key: string): SqlText {
  return { text: 'exists (select 1 from complaints c where c.scope = $1 and c.idempotency_key = $2)', values: [scope, key] };
}

export async function findFiled(db: Db, scope: string, key: string): Promise<ComplaintRow | undefined> {
  return db.selectFrom('complaints').selectAll().where('scope', '=', scope).where('idempotency_key', '=', key).executeTakeFirst();
}

export function insertComplaint(row: Insertable<ComplaintTable>): RowWrite {
  return { insert: 'complaints', rows: [row] };
}

export async function findComplaint(db: Db, id: string): Promise<ComplaintRow | undefined> {
  return db.selectFrom('complaints').selectAll().where('id', '=', id).executeTakeFirst();
}

export function complaintResolved(scope: string, key: string): SqlText {
  return { text: 'exists (select 1 from complaints c where c.resolve_scope = $1 and c.resolve_key = $2)', values: [scope, key] };
}

export async function findResolved(db: Db, scope: string, key: string): Promise<ComplaintRow | undefined> {
  return db.selectFrom('complaints').selectAll().where('resolve_scope', '=', scope).where('resolve_key', '=', key).executeTakeFirst();
}

export interface Resolution {
  resolution: string; goodwillPoints: number; goodwillTxnId: string | null; at: Date; scope: string; key: string; hash: string;
}

/** Resolves an open complaint; a complaint resolved meanwhile refuses the whole unit (so no goodwill is credited twice). */
export function resolved(id: string, r: Resolution): RowWrite {
  return {
    update: 'complaints',
    set: {
      status: 'RESOLVED', resolution: r.resolution, goodwill_points: r.goodwillPoints, goodwill_txn_id: r.goodwillTxnId, resolved_at: r.at,
      resolve_scope: r.scope, resolve_key: r.key, resolve_hash: r.hash,
    },
    where: { id, status: 'OPEN' },
    orElse: { code: 'INVALID_STATE', message: 'This complaint is already resolved' },
  };
}

/** A member's answers, newest first; only those recorded by `scope` when given. */
export async function answersOf(db: Db, filter: { memberId: string; scope?: string | undefined }, limit: number): Promise<SurveyResponseRow[]> {
  let query = db.selectFrom('survey_responses').selectAll().where('member_id', '=', filter.memberId);
  if (filter.scope) query = query.where('scope', '=', filter.scope);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** Complaints newest first: a member's, or all; optionally of one status, or filed by `scope`. */
export async function listComplaints(
  db: Db, filter: { memberId?: string; status?: ComplaintStatus | null; scope?: string | undefined }, limit: number,
): Promise<ComplaintRow[]> {
  let query = db.selectFrom('complaints').selectAll();
  if (filter.memberId) query = query.where('member_id', '=', filter.memberId);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.scope) query = query.where('scope', '=', filter.scope);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}
