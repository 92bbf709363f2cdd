import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Database, Db } from '../db/database';
import { systemClock, testClock } from '../clock/clock';
import { purgeIdempotency, sweepExpiry } from './expiry';
import { runTierMaintenance } from '../tiers/tiers.jobs';
import { purgeRateLimits } from './jobs.repo';
import { awardBirthdays } from '../points/birthdays';
import { expireVouchers } from '../rewards/rewards.service';
import { noticeExpiringLots, purgeOldEvents } from '../webhooks/webhooks.service';
import type { WebhookSettings } from '../config';
import { refreshLoyalty } from '../insights/insights.service';

export interface MaintenanceReport {
  pointsExpired: number;
  keysPurged: number;
  tierChanges: number;
  birthdayEvents: number;
  vouchersExpired: number;
  expiringNotices: number;
  eventsPurged: number;
  loyaltyRefreshed: number;
}

/**
 * One maintenance pass: tier reviews first (a downgrade can end an expiry freeze), then the
 * expiry sweep and purges, then today's birthday events, the vouchers past their end, the
 * points.expiring events due, the purge of old events, and last the loyalty summary (which then
 * sees the pass's expiries and tier changes). Safe to run on every instance at once.
 */
export async function runMaintenance(
  db: Db, now: Date, logger: Logger | undefined, events: Pick<WebhookSettings, 'expiringDays' | 'retentionDays'>,
): Promise<MaintenanceReport> {
  const tierChanges = await runTierMaintenance(db, now, logger);
  const pointsExpired = await sweepExpiry(db, now, logger);
  const keysPurged = await purgeIdempotency(db, now, logger);
  const birthdayEvents = await awardBirthdays(db, now, logger);
  const vouchersExpired = await expireVouchers(db, now);
  if (vouchersExpired > 0) logger?.info({ vouchersExpired }, 'vouchers past their end expired');
  const expiringNotices = await noticeExpiringLots(db, now, events.expiringDays);
  const eventsPurged = await purgeOldEvents(db, now, events.retentionDays);
  // Rate-limit windows run on wall time (they meter real requests), not the service clock.
  await purgeRateLimits(db, Date.now() - 3_600_000);
  const loyalty = await refreshLoyalty(db, now, logger);
  return { pointsExpired, keysPurged, tierChanges, birthdayEvents, vouchersExpired, expiringNotices, eventsPurged, loyaltyRefreshed: loyalty.members };
}

/**
 * Runs maintenance every JOB_INTERVAL_MS (0 disables it). Passes never overlap within one
 * process; across instances the per-member locks make overlapping passes harmless.
 */
export function startJobs({ config, database, logger }: { config: Config; database: Database; logger: Logger }) {
  if (config.jobIntervalMs === 0) return { stop: async () => undefined };
  const clock = config.testClockEnabled ? testClock(database.db) : systemClock;
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = clock
      .now()
      .then((now) => runMaintenance(database.db, now, logger, config.webhooks))
      .catch((error: unknown) => logger.error({ err: error }, 'maintenance pass failed'))
      .finally(() => { running = null; });
  }, config.jobIntervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
