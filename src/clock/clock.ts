import type { Db } from '../db/database';
import { InvalidStateError } from '../errors';
import { freezeAt, frozenAt } from './clock.repo';

/**
 * The service clock. Every pending, expiry and tier rule reads time from here, never from
 * `new Date()`. With the test clock enabled the instant lives in the database, so every
 * instance serving that database agrees on it.
 */
export interface Clock {
  now(): Promise<Date>;
  /** Whether the instant just read was frozen (a set test clock); absent means it ticks. */
  read?(): Promise<{ at: Date; frozen: boolean }>;
}

export const systemClock: Clock = { now: async () => new Date() };

export function testClock(db: Db): Clock {
  const read = async () => {
    const frozen = await frozenAt(db);
    return frozen ? { at: frozen, frozen: true } : { at: new Date(), frozen: false };
  };
  return { read, now: async () => (await read()).at };
}

/** Freezes the shared clock at `instant`; refused unless the test clock is enabled. */
export async function setTestClock(db: Db, enabled: boolean, instant: Date): Promise<Date> {
  if (!enabled) throw new InvalidStateError('The test clock is disabled (TEST_CLOCK_ENABLED is not true)');
  await freezeAt(db, instant);
  return instant;
}
