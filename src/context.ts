import type { Logger } from 'pino';
import type { Actor } from './auth/jwt';
import type { Config } from './config';
import type { Db } from './db/database';

/**
 * What every service function receives first: who is calling, the database, the service
 * instant for this request, and a logger bound to the request.
 */
export interface Ctx {
  actor: Actor | null;
  db: Db;
  config: Config;
  logger: Logger;
  requestId: string;
  /** The service clock, read once per request so one request sees one instant. */
  now(): Promise<Date>;
}
