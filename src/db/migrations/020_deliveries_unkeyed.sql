-- Events out (src/webhooks): no foreign keys left on the delivery tables. A key check is a query
-- each backend plans once and keeps: planned while the outbox was empty (a fresh database, and
-- no ANALYZE since, autovacuum being off on these machines), it scans the whole referenced table
-- ever after, so every delivery queued (event key) and every attempt logged (delivery key) cost
-- more as the tables grew: with one `*` webhook, a purchase's PostgreSQL time grew round by
-- round in the bench. The rows are tied together by construction instead: an event's deliveries
-- are queued in the statement that writes it, an attempt is logged in the statement that
-- updates its delivery, and the purge (webhooks.repo purgeEvents) deletes an event's attempts,
-- deliveries and the event together.
alter table webhook_deliveries drop constraint webhook_deliveries_event_id_fkey;
alter table webhook_attempts drop constraint webhook_attempts_delivery_id_fkey;
