import type { Logger } from 'pino';
import type { Config } from './config';
import type { Ahead } from './db/ahead';
import type { Db } from './db/database';

export type Role = 'ADMIN' | 'PARTNER' | 'MEMBER';

/** Who is calling, from a verified token (auth/jwt.ts). */
export interface Actor {
  role: Role;
  sub: string;
  partnerId?: string;
  memberId?: string;
  /** A PARTNER allowed members' personal data (claim personalData: true). */
  personalData?: boolean;
}

/**
 * What every service function receives first: who is calling, the database, the service
 * instant for this request, and a logger bound to the request.
 */
export interface Ctx {
  actor: Actor | null;
  db: Db;
  /**
   * Where a write of one statement that stands alone runs (Database.statements): on PostgreSQL,
   * connections that concurrent requests share, which commit the statements that arrive
   * together in one transaction; elsewhere `db` itself.
   */
  statements: Db;
  /** Where insights read: the read replica when one is configured (DATABASE_READ_URL), else `db`. */
  reads: Db;
  config: Config;
  /** A logger whose lines carry the request (its id, method, URL…), made the first time it is asked for. */
  log(): Logger;
  requestId: string;
  /** The service clock, read once per request so one request sees one instant. */
  now(): Promise<Date>;
  /** Moves the request's instant forward to `at` when it is earlier, and returns the instant. */
  notBefore?(at: Date): Promise<Date>;
  /**
   * The request's rate-limit count, owed to the database (db/ahead.ts); null when limiting is
   * off. A root resolver waits for its verdict before it runs unless it carries the count
   * (guarded), and every request waits for it before it answers.
   */
  rateCount: Ahead | null;
}

/**
 * The instant for a write on a member whose row was last changed at `lastChange`: the request's
 * instant, or `lastChange` when that is later. Requests for one member serialise on its lock
 * but read the clock when they arrive, so one that waited may hold an earlier instant than the
 * write it waited for; taken as is, it would act before that write (count its points as still
 * pending, miss its qualifying points). With this, a member's entries never go back in time.
 */
export async function writeInstant(ctx: Pick<Ctx, 'now' | 'notBefore'>, lastChange: Date): Promise<Date> {
  if (ctx.notBefore) return ctx.notBefore(lastChange);
  const now = await ctx.now();
  return now.getTime() < lastChange.getTime() ? lastChange : now;
}
