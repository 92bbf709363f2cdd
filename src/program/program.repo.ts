import type { Db } from '../db/database';
import type { ProgramTable, TierMilestoneTable, TierTable } from '../db/schema';
import type { EarningRuleRow, MilestoneView, ProgramRow, TierView } from './program.types';
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

export async function loadMilestones(db: Db): Promise<MilestoneView[]> {
  return db.selectFrom('tier_milestones').selectAll().orderBy('lifetime_qualifying_points', 'asc').execute();
}

/** Replaces the milestones and asks the maintenance pass to review the members against them (tiers.jobs). */
export async function replaceMilestones(db: Db, milestones: Insertable<TierMilestoneTable>[]): Promise<void> {
  await db.deleteFrom('tier_milestones').execute();
  if (milestones.length > 0) await db.insertInto('tier_milestones').values(milestones).execute();
  await db.updateTable('milestone_review').set((eb) => ({ version: eb('version', '+', 1), review_after: null })).execute();
}

/** The active earning rules (src/rules puts them in evaluation order). */
export async function loadActiveRules(db: Db): Promise<EarningRuleRow[]> {
  return db.selectFrom('earning_rules').selectAll().where('active', '=', true).execute();
}
