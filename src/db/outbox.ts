/**
 * The event outbox (migration 017): what a change reports, written by the statement that writes
 * the change, with a delivery queued in the same statement for every active webhook subscribed
 * to it (webhooks/; the event stream is one of them). An event no active webhook subscribes to
 * is not written: a programme nobody listens to pays nothing for events. The delivery workers
 * read only these tables.
 */
import type { Params } from './sql-text';

/** An event to write: `data` names at least the member (contract: Events out). */
export interface OutboxEvent {
  id: string;
  type: string;
  memberId: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/**
 * The CTEs that write `events` and queue their deliveries (named `<prefix>e` and `<prefix>d`),
 * for a statement being assembled with `p`. Deliveries are due at once, on the database's clock.
 */
export function outboxCtes(p: Params, events: readonly OutboxEvent[], prefix = 'o'): string[] {
  // The data goes as text, read as JSON only for the events a webhook takes (outboxOf).
  const values = events.map((e) => `(${p.add(e.id)}::uuid, ${p.add(e.type)}, ${p.add(e.memberId)}::uuid, ${p.add(JSON.stringify(e.data))}::text, ${p.add(e.createdAt)}::timestamptz)`);
  return outboxOf(`values ${values.join(', ')}`, prefix);
}

/**
 * As outboxCtes, for events a query makes: `source` yields (id, type, member_id, data,
 * created_at) rows, `data` as jsonb or as its text, and may name CTEs written before these.
 */
export function outboxOf(source: string, prefix = 'o'): string[] {
  const subscribed = `select v.id, v.type, v.member_id, v.data::jsonb, v.created_at from (${source}) as v (id, type, member_id, data, created_at)
    where exists (select 1 from webhooks s where s.active and (v.type = any(s.events) or '*' = any(s.events)))`;
  return [
    `${prefix}e as (insert into outbox_events (id, type, member_id, data, created_at) ${subscribed} returning id, seq, type, member_id)`,
    `${prefix}d as (insert into webhook_deliveries (id, webhook_id, event_id, event_seq, event_type, member_id, status, next_attempt_at, created_at)
      select gen_random_uuid(), w.id, ${prefix}e.id, ${prefix}e.seq, ${prefix}e.type, ${prefix}e.member_id, 'PENDING', clock_timestamp(), ${DELIVERY_CREATED}
      from ${prefix}e join webhooks w on w.active and (${prefix}e.type = any(w.events) or '*' = any(w.events)))`,
  ];
}

/**
 * When a delivery was queued, on the database's clock to the millisecond: a page's cursor holds
 * the instant as the API gives it (db/pages.ts), and a finer one would pass over the deliveries
 * queued in the same millisecond as a page's last.
 */
export const DELIVERY_CREATED = `date_trunc('milliseconds', clock_timestamp())`;

/** A timestamp expression for an event's data, as JSON dates are everywhere else: ISO 8601 in UTC with milliseconds, whatever the session's time zone. */
export function isoUtc(expression: string): string {
  return `to_char(${expression} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
