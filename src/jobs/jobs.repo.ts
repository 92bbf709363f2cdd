import type { Db } from '../db/database';

/** Drops rate-limit windows that ended before `before` (ms since the epoch, wall time). */
export async function purgeRateLimits(db: Db, before: number): Promise<void> {
  await db.deleteFrom('rate_limits').where('expire', '<', before).execute();
}
