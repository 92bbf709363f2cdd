import type { Db } from '../db/database';
import type { ProgramTable, TierTable } from '../db/schema';
import type { ProgramRow, TierView } from './program.types';
import type { Updateable, Insertable } from 'kysely';

export async function loadProgram(db: Db): Promise<ProgramRow> {
  return db.selectFrom('program').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
}

export async function loadTiers(db: Db): Promise<TierView[]> {
  return db.selectFrom('tiers').selectAll().orderBy('rank', 'asc').execute();
}

export async function updateProgram(db: Db, patch: Updateable<ProgramTable>): Promise<void> {
  await db.updateTable('program').set(patch).where('id', '=', 1).execute();
}

export async function replaceTiers(db: Db, tiers: Insertable<TierTable>[]): Promise<void> {
  await db.deleteFrom('tiers').execute();
  await db.insertInto('tiers').values(tiers).execute();
}
