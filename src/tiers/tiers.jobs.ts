import type { Logger } from 'pino';
import type { Db } from '../db/database';
import { getProgram, invalidateProgram } from '../program/program.service';
import * as repo from './tiers.repo';
import { maintainMember } from './tiers.service';

/**
 * The scheduled tier evaluation: period-end reviews, grace ends and assignment ends that are
 * due, then milestone bonuses owed since the milestones last changed (reviewMilestones). Each
 * member is handled in its own transaction under its row lock, and the state row is written
 * only if its version is unchanged, so two instances running this at once do every change
 * exactly once. Returns how many members changed.
 */
export async function runTierMaintenance(db: Db, now: Date, logger?: Logger, batchSize = 200): Promise<number> {
  const seen = new Set<string>();
  let changed = 0;
  for (let round = 0; round < 50; round++) {
    const ids = (await repo.dueMembers(db, now, batchSize)).filter((id) => !seen.has(id));
    if (ids.length === 0) break;
    for (const id of ids) {
      seen.add(id);
      if (await maintain(db, id, now)) changed++;
    }
  }
  changed += await reviewMilestones(db, now);
  if (changed > 0) logger?.info({ members: changed }, 'tier evaluation');
  return changed;
}

async function maintain(db: Db, id: string, now: Date): Promise<boolean> {
  return maintainMember({ db, now: async () => now }, id);
}

/**
 * After the milestones change, credits the bonuses members had already reached (a milestone
 * configured after members passed it). Qualifying activity credits the milestones it reaches
 * itself, so between changes there is nothing to review. The review walks the active members
 * in id order, at most `budget` of them per pass, and carries on from there at the next pass;
 * a member suspended meanwhile is credited at its next qualifying activity instead. Returns how
 * many members were credited.
 */
export async function reviewMilestones(db: Db, now: Date, { batchSize = 500, budget = 20_000 } = {}): Promise<number> {
  const review = await repo.milestoneReview(db);
  if (review.reviewedVersion >= review.version) return 0;
  // The milestones as they are now, not as another instance's change left this one's cache.
  invalidateProgram(db);
  const program = await getProgram(db);
  let after = review.after;
  let credited = 0;
  for (let reviewed = 0; reviewed < budget; reviewed += batchSize) {
    const batch = program.milestones.length > 0 ? await repo.membersReviewedForMilestones(db, after, now, batchSize) : [];
    for (const { id, owed } of batch) if (owed && (await maintain(db, id, now))) credited++;
    after = batch.length < batchSize ? null : (batch.at(-1) as { id: string }).id;
    await repo.advanceMilestoneReview(db, review.version, after);
    if (after === null) break;
  }
  return credited;
}
