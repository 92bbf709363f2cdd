-- The open-lots index also carries the columns the balance figures and the spendable-lot read
-- need, so both are answered from the index alone (an index-only scan) instead of visiting one
-- heap page per lot. Same index, same writes; only wider.
drop index point_lots_open_idx;
create index point_lots_open_idx on point_lots (member_id, expires_at, earned_at)
  include (remaining, available_at, id) where remaining > 0;
