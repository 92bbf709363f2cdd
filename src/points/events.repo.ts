import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database';
import type { MemberEventTable } from '../db/schema';
import type { SqlText } from '../db/sql-text';
import type { RowWrite } from '../ledger/unit-of-work';

export type EventRow = Selectable<MemberEventTable>;

/** "Is this event recorded?", as the unit of work's member read asks it. */
export function eventRecorded(scope: string, key: string): SqlText {
  return { text: 'exists (select 1 from member_events e where e.scope = $1 and e.idempotency_key = $2)', values: [scope, key] };
}

export async function findEvent(db: Db, scope: string, key: string): Promise<EventRow | undefined> {
  return db.selectFrom('member_events').selectAll().where('scope', '=', scope).where('idempotency_key', '=', key).executeTakeFirst();
}

export function insertEvent(row: Insertable<MemberEventTable>): RowWrite {
  return { insert: 'member_events', rows: [row] };
}
