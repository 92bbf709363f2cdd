/**
 * The birthday job: on each member's birthday in the programme's time zone, one `birthday` event,
 * which the active birthday rules reward. Its key is the member and the year, so a pass run twice,
 * or on two instances at once, rewards a birthday once. A member born on 29 February has it on
 * 28 February in other years.
 */
import type { Logger } from 'pino';
import { DateTime } from 'luxon';
import type { Db } from '../db/database';
import { getProgram } from '../program/program.service';
import { birthdayMembers } from '../rules/rules.repo';
import { hasRules } from '../rules/rules.awards';
import { BIRTHDAY_EVENT } from '../rules/rules.engine';
import { recordServiceEvent } from './events.service';

/** Records today's birthday events; returns how many it recorded. */
export async function awardBirthdays(db: Db, now: Date, logger?: Logger, batchSize = 500): Promise<number> {
  const program = await getProgram(db);
  if (!hasRules(program, BIRTHDAY_EVENT)) return 0;
  const today = DateTime.fromJSDate(now, { zone: program.timezone });
  const days: [number, number][] = [[today.month, today.day]];
  if (today.month === 2 && today.day === 28 && !today.isInLeapYear) days.push([2, 29]);
  const env = { db, now: async () => now };
  let recorded = 0;
  for (let after: string | null = null; ;) {
    const ids = await birthdayMembers(db, days, today.year, after, batchSize);
    for (const id of ids) {
      try {
        await recordServiceEvent(env, id, BIRTHDAY_EVENT, `birthday:${id}:${today.year}`);
        recorded++;
      } catch (error) {
        logger?.warn({ err: error, memberId: id }, 'birthday event not recorded');
      }
    }
    if (ids.length < batchSize) break;
    after = ids[ids.length - 1] as string;
  }
  if (recorded > 0) logger?.info({ recorded }, 'birthday events recorded');
  return recorded;
}
