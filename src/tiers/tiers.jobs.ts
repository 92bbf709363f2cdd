import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { Db } from '../db/database';
import { inTransaction } from '../db/transaction';
import { lockMember } from '../ledger/ledger.core';
import { getProgram } from '../program/program.service';
import * as repo from './tiers.repo';
import { maintainMember } from './tiers.service';

/**
 * The scheduled tier evaluation: period-end reviews, grace ends and assignment ends that are
 * due, plus milestone bonuses not yet credited (e.g. a milestone configured after members
 * passed it). Each member is handled in its own transaction under its row lock, and the state
 * row is written only if its version is unchanged, so two instances running this at once do
 * every change exactly once. Returns how many members changed.
 */
export async function runTierMaintenance(db: Db, now: Date, logger?: Logger, batchSize = 200): Promise<number> {
  const program = await getProgram(db);
  const seen = new Set<string>();
  let changed = 0;
  for (let round = 0; round < 50; round++) {
    const due = (await repo.dueMembers(db, now, batchSize)).filter((id) => !seen.has(id));
    const owed = await membersOwedMilestones(db, now, batchSize);
    const ids = [...new Set([...due, ...owed])].filter((id) => !seen.has(id));
    if (ids.length === 0) break;
    for (const id of ids) {
      seen.add(id);
      const did = await inTransaction(db, async (tx) => {
        const member = await lockMember(tx, id, { active: false });
        return maintainMember(tx, member, program, now);
      });
      if (did) changed++;
    }
  }
  if (changed > 0) logger?.info({ members: changed }, 'tier evaluation');
  return changed;
}

/** Members past a milestone threshold who have not received its bonus. */
async function membersOwedMilestones(db: Db, now: Date, limit: number): Promise<string[]> {
  const rows = await sql<{ member_id: string }>`
    select t.member_id from points_transactions t
    join members m on m.id = t.member_id and m.status = 'ACTIVE'
    where not t.cancelled and t.created_at <= ${now}
    group by t.member_id
    having exists (select 1 from tier_milestones ms
      where ms.lifetime_qualifying_points <= sum(t.qualifying_points)
        and not exists (select 1 from member_milestones mm where mm.member_id = t.member_id
          and mm.lifetime_qualifying_points = ms.lifetime_qualifying_points))
    order by t.member_id limit ${limit}`.execute(db);
  return rows.rows.map((r) => r.member_id);
}
