-- Lookups by parent that had no index and so scanned the whole table:
-- the tier engine sums each order's refunds (tiers.repo metrics), and a refund inside the
-- pending window finds the lot its purchase created (ledger.repo lotOfTransaction).
create index refunds_order_idx on refunds (order_id, created_at);
create index point_lots_txn_idx on point_lots (txn_id);
