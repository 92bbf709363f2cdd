/** The SQL of events out: webhooks, their deliveries and attempts, and the outbox's upkeep. */
import { randomBytes, randomUUID } from 'node:crypto';
import { CompiledQuery, sql, type Selectable } from 'kysely';
import type { Db } from '../db/database';
import { DELIVERY_CREATED, isoUtc, outboxOf } from '../db/outbox';
import { newestFirst } from '../db/pages';
import { PLANNED_EACH_TIME } from '../db/prepared-pool';
import type { DeliveryStatus, WebhookAttemptTable, WebhookDeliveryTable, WebhookTable } from '../db/schema';
import type { CountedPage } from '../graphql/pagination';

export type WebhookRow = Selectable<WebhookTable>;
export type DeliveryRow = Selectable<WebhookDeliveryTable>;
export type AttemptRow = Selectable<WebhookAttemptTable>;
export type DeliveryPageView = CountedPage<DeliveryRow>;

export async function insertWebhook(db: Db, row: Omit<WebhookRow, 'disabled_reason' | 'active'>): Promise<WebhookRow> {
  return db.insertInto('webhooks').values({ ...row, active: true }).returningAll().executeTakeFirstOrThrow();
}

/**
 * Creates a delivery target the service keeps itself (the event stream), on, or updates its
 * address; whether an existing one is on is left to switchTarget.
 */
export async function upsertTarget(db: Db, t: { id: string; url: string; events: string[]; description: string; at: Date }): Promise<void> {
  await db.insertInto('webhooks')
    .values({ id: t.id, url: t.url, events: t.events, description: t.description, secret: randomBytes(32).toString('hex'), active: true, created_at: t.at, updated_at: t.at })
    .onConflict((oc) => oc.column('id').doUpdateSet({ url: t.url, events: t.events, description: t.description, updated_at: t.at }))
    .execute();
}

/**
 * Switches a target the service keeps itself on or off where it is not already: off holds its
 * pending deliveries; on releases them and clears why it was disabled (setActive).
 */
export async function switchTarget(db: Db, id: string, active: boolean, at: Date): Promise<void> {
  const other = await db.selectFrom('webhooks').select('id').where('id', '=', id).where('active', '=', !active).executeTakeFirst();
  if (other) await setActive(db, id, active, at);
}

export async function listWebhooks(db: Db): Promise<WebhookRow[]> {
  return db.selectFrom('webhooks').selectAll().orderBy('created_at').orderBy('id').execute();
}

export async function findWebhook(db: Db, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * When a webhook that is off holds its pending deliveries: not due, so the workers do not look at
 * them, until it is switched on again and they are due at once.
 */
export const HELD = new Date('9999-12-31T00:00:00Z');

/** Turns a webhook on (forgetting why it was disabled; its held deliveries due now) or off (holding them). */
export async function setActive(db: Db, id: string, active: boolean, at: Date): Promise<WebhookRow | undefined> {
  return db.transaction().execute(async (tx) => {
    const webhook = await tx.updateTable('webhooks').set({ active, disabled_reason: null, updated_at: at }).where('id', '=', id).returningAll().executeTakeFirst();
    if (webhook) await holdDeliveries(tx, id, active);
    return webhook;
  });
}

/** Disables a webhook that is active, saying why, and holds its pending deliveries; false when it was not active. */
export async function disable(db: Db, id: string, reason: string): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const result = await tx.updateTable('webhooks').set({ active: false, disabled_reason: reason, updated_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', id).where('active', '=', true).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    await holdDeliveries(tx, id, false);
    return true;
  });
}

async function holdDeliveries(db: Db, webhookId: string, release: boolean): Promise<void> {
  const query = db.updateTable('webhook_deliveries').where('webhook_id', '=', webhookId).where('status', '=', 'PENDING');
  await (release
    ? query.set({ next_attempt_at: sql<Date>`clock_timestamp()` }).where('next_attempt_at', '=', HELD)
    : query.set({ next_attempt_at: HELD })).execute();
}

/** A page of a webhook's deliveries (with `status`, or all), newest first, after `after` (a creation instant and an id), limit + 1 rows. */
export function deliveries(db: Db, webhookId: string, status: DeliveryStatus | null, limit: number, after: [Date, string] | undefined) {
  let query = db.selectFrom('webhook_deliveries').where('webhook_id', '=', webhookId);
  if (status) query = query.where('status', '=', status);
  return {
    page: () => newestFirst(query.selectAll(), limit, after),
    count: async () => Number((await query.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n),
  };
}

export async function findDelivery(db: Db, id: string): Promise<DeliveryRow | undefined> {
  return db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function attemptsOf(db: Db, deliveryId: string): Promise<AttemptRow[]> {
  return db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}

/** A delivery a worker has claimed, with what it sends and where. */
export interface Claimed extends DeliveryRow {
  url: string;
  secret: string;
  type: string;
  data: Record<string, unknown>;
  event_created_at: Date;
}

/**
 * Claims up to `n` due deliveries for `leaseMs` (another worker may take one back once its lease
 * has run out), oldest due first; those to the event stream only where this worker `publishes`. A delivery waits while an earlier event of the same member is
 * pending for the same webhook, so each receiver gets a member's events in the order they
 * happened. Deliveries other workers are claiming are skipped, not waited for.
 *
 * The due deliveries are walked in the due index's order, so a claim reads about as many index
 * entries as it takes, and marks those of rows gone from the queue dead as it passes them. Where
 * the planner's figures for this fast-changing table are stale (no ANALYZE since it filled up),
 * it would rather sort every due delivery (a bitmap scan, which never marks entries dead, and
 * reads them all again on the next claim, growing with every delivery since the last VACUUM):
 * sorting is switched off for this statement's transaction. The statement is planned each time
 * it runs (PLANNED_EACH_TIME), as the delivery log's is: a plan cached while the table was empty
 * would scan it whole once it is not.
 */
export async function claimDue(db: Db, n: number, leaseMs: number, o: { streamTarget: string; publishes: boolean }): Promise<Claimed[]> {
  return db.transaction().execute(async (tx) => {
    await sql`select set_config('enable_sort', 'off', true)`.execute(tx);
    const { rows } = await tx.executeQuery<Claimed>(CompiledQuery.raw(`${PLANNED_EACH_TIME}
      with claimed as (
        update webhook_deliveries d set leased_until = clock_timestamp() + $2 * interval '1 millisecond', claim = gen_random_uuid()
        where d.id in (
          select c.id from webhook_deliveries c join webhooks w on w.id = c.webhook_id and w.active
          where c.status = 'PENDING' and c.next_attempt_at <= statement_timestamp()
            and (c.leased_until is null or c.leased_until < clock_timestamp())
            and ($4 or c.webhook_id <> $3::uuid)
            and not exists (select 1 from webhook_deliveries p
              where p.webhook_id = c.webhook_id and p.member_id = c.member_id and p.status = 'PENDING' and p.event_seq < c.event_seq)
          order by c.next_attempt_at
          limit $1
          for update of c skip locked)
        returning d.*)
      select claimed.*, w.url, w.secret, e.type, e.data, e.created_at as event_created_at
      from claimed join webhooks w on w.id = claimed.webhook_id join outbox_events e on e.id = claimed.event_id`, [n, leaseMs, o.streamTarget, o.publishes]));
    return rows;
  });
}

export interface AttemptOutcome {
  status: 'DELIVERED' | 'PENDING' | 'FAILED';
  retryInMs: number | null;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** An attempt to record: the claimed delivery and what came of it. */
export interface Attempted {
  delivery: Pick<DeliveryRow, 'id' | 'claim'>;
  outcome: AttemptOutcome;
}

/**
 * Records attempts in the delivery log and their deliveries' new states, in one statement, each
 * only while the worker's claim is the delivery's latest (a worker whose lease ran out, and whose
 * delivery another took, records nothing for it). A delivery to be tried again holds the member's
 * later deliveries to the same webhook until then, so the workers do not look at them meanwhile.
 */
export async function recordAttempts(db: Db, attempts: readonly Attempted[]): Promise<void> {
  if (attempts.length === 0) return;
  const column = <T>(f: (a: Attempted) => T) => attempts.map(f);
  await db.executeQuery(CompiledQuery.raw(`${PLANNED_EACH_TIME}
    with o as (
      select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::int[], $7::int[])
        as o (id, claim, status, status_code, error, retry_ms, duration_ms)),
    u as (
      update webhook_deliveries d set status = o.status, attempts = d.attempts + 1,
        last_status_code = o.status_code, last_error = o.error,
        next_attempt_at = case when o.retry_ms is null then d.next_attempt_at else clock_timestamp() + o.retry_ms * interval '1 millisecond' end,
        delivered_at = case when o.status = 'DELIVERED' then clock_timestamp() else null end,
        leased_until = null, claim = null
      from o where d.id = o.id and d.claim = o.claim and d.status = 'PENDING'
      returning d.id, d.attempts, d.status, d.webhook_id, d.member_id, d.event_seq, d.next_attempt_at, o.status_code, o.error, o.duration_ms),
    a as (
      insert into webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
      select id, attempts, clock_timestamp(), status_code, error, duration_ms from u)
    update webhook_deliveries s set next_attempt_at = u.next_attempt_at from u
    where u.status = 'PENDING' and s.webhook_id = u.webhook_id and s.member_id = u.member_id
      and s.status = 'PENDING' and s.event_seq > u.event_seq and s.next_attempt_at < u.next_attempt_at`, [
    column((a) => a.delivery.id), column((a) => a.delivery.claim), column((a) => a.outcome.status),
    column((a) => a.outcome.statusCode), column((a) => a.outcome.error), column((a) => a.outcome.retryInMs),
    column((a) => a.outcome.durationMs),
  ]));
}

/** When a delivery to the webhook last succeeded; null when none has. */
export async function lastSuccess(db: Db, webhookId: string): Promise<Date | null> {
  const row = await db.selectFrom('webhook_deliveries').select((eb) => eb.fn.max('delivered_at').as('at'))
    .where('webhook_id', '=', webhookId).where('status', '=', 'DELIVERED').executeTakeFirst();
  return (row?.at as Date | null | undefined) ?? null;
}

/** Queues the delivery's event to its webhook again, as a new delivery due now (held while the webhook is off). */
export async function replay(db: Db, delivery: DeliveryRow): Promise<DeliveryRow> {
  return db.insertInto('webhook_deliveries').values({
    id: randomUUID(), webhook_id: delivery.webhook_id, event_id: delivery.event_id, event_seq: delivery.event_seq,
    event_type: delivery.event_type, member_id: delivery.member_id, status: 'PENDING',
    next_attempt_at: sql<Date>`(select case when w.active then clock_timestamp() else ${HELD} end from webhooks w where w.id = ${delivery.webhook_id})`,
    created_at: sql<Date>`${sql.raw(DELIVERY_CREATED)}`,
  }).returningAll().executeTakeFirstOrThrow();
}

/**
 * Writes a points.expiring event for up to `batch` lots with points left that expire in
 * (now, until] and have had none, and answers how many. Once per lot: the notice and its event
 * are written together, and a lot another instance is noticing at the same time is left to it.
 */
export async function noticeExpiring(db: Db, now: Date, until: Date, batch: number): Promise<number> {
  const ctes = [
    `due as (select l.id, l.member_id, l.remaining, l.expires_at from point_lots l
      where l.remaining > 0 and l.expires_at > $1 and l.expires_at <= $2
        and not exists (select 1 from expiring_notices n where n.lot_id = l.id and n.expires_at = l.expires_at)
      order by l.expires_at limit $3)`,
    `n as (insert into expiring_notices (lot_id, expires_at, member_id, created_at) select id, expires_at, member_id, $1 from due
      on conflict do nothing returning lot_id)`,
    ...outboxOf(`select gen_random_uuid(), 'points.expiring', due.member_id,
      jsonb_build_object('memberId', due.member_id, 'lotId', due.id, 'points', due.remaining, 'expiresAt', ${isoUtc('due.expires_at')}), $1::timestamptz
      from n join due on due.id = n.lot_id`),
  ];
  const { rows } = await db.executeQuery<{ n: number }>(CompiledQuery.raw(`with ${ctes.join(',\n')} select count(*)::int as n from n`, [now, until, batch]));
  return rows[0]?.n ?? 0;
}

/** Deletes notices of lots whose told-of expiry is before `before`. */
export async function purgeNotices(db: Db, before: Date): Promise<void> {
  await db.deleteFrom('expiring_notices').where('expires_at', '<', before).execute();
}

/**
 * Deletes events written before `before` whose deliveries are all done (delivered or failed),
 * with their deliveries and those deliveries' attempts (migration 020: no keys cascade it);
 * answers how many events.
 */
export async function purgeEvents(db: Db, before: Date, batch: number): Promise<number> {
  const { rows } = await db.executeQuery<{ n: number }>(CompiledQuery.raw(`
    with gone as (
      delete from outbox_events where id in (
        select e.id from outbox_events e
        where e.created_at < $1
          and not exists (select 1 from webhook_deliveries d where d.event_id = e.id and d.status = 'PENDING')
        limit $2)
      returning id),
    deliveries as (delete from webhook_deliveries d using gone where d.event_id = gone.id returning d.id),
    attempts as (delete from webhook_attempts a using deliveries where a.delivery_id = deliveries.id)
    select count(*)::int as n from gone`, [before, batch]));
  return rows[0]?.n ?? 0;
}
