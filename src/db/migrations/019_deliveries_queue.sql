-- Events out (src/webhooks): the deliveries table made cheaper to work as a queue.
--
-- A delivery no longer checks its webhook by foreign key. Every change that emits an event queues
-- its deliveries in its own statement, and the key check took a share lock on the webhook's row:
-- concurrent purchases all locked the same row (a new multixact each time more than one held
-- it), which cost a fifth of a purchase's throughput with one webhook. Deliveries are written
-- only by the outbox (joining the active webhooks) and by replay (from an existing delivery), and
-- webhooks are never deleted (only switched off).
alter table webhook_deliveries drop constraint webhook_deliveries_webhook_id_fkey;

-- Half of each page is left free, so that a worker's claim (which changes no indexed column) can
-- write the row's new version beside the old one without touching the five indexes (a HOT update).
alter table webhook_deliveries set (fillfactor = 50);
