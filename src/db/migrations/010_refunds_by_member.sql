-- A member's qualifying points in a window (tiers.repo qualifyingPointsQuery) count a refund in
-- the window of the purchase it refunds, so they read every ledger entry the member ever had to
-- find the refunds: a purchase by a member with years of history paid for all of it. Entries
-- other than refunds are now read by date (points_transactions_member_occurred_idx) and the
-- refunds from this index, which holds refunds alone (a few in a hundred entries).
create index points_transactions_refund_idx on points_transactions (member_id) where type = 'REFUND';
