import { sql } from 'kysely';
import type { Db } from '../db/database';

/** The instant the shared test clock is frozen at, or null while it ticks. */
export async function frozenAt(db: Db): Promise<Date | null> {
  const row = await db.selectFrom('service_clock').select('frozen_at').executeTakeFirst();
  return row?.frozen_at ?? null;
}

export async function freezeAt(db: Db, instant: Date): Promise<void> {
  await sql`update service_clock set frozen_at = ${instant}`.execute(db);
}
