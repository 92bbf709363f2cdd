import type { Logger } from 'pino';
import type { Config } from '../config';
import type { Database } from '../db/database';

/** Placeholder replaced below by the maintenance sweep. */
export function startJobs(_deps: { config: Config; database: Database; logger: Logger }) {
  return { stop: async () => undefined };
}
