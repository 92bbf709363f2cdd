-- The maintenance pass (every minute in production) looked at the whole ledger on every run.
-- At 1,000,000 members the milestone check summed every ledger entry (20 s of database time)
-- with no milestone configured at all, and the expiry sweep read all of the open-lots index
-- (43,000 blocks) to find the few members with lots due.

-- A member can be owed a milestone bonus only after the milestones change: qualifying activity
-- credits the bonuses it reaches in its own transaction. So the pass reviews the members once
-- after each change, a batch at a time from where it stopped (tiers.jobs reviewMilestones).
create table milestone_review (
  id int primary key default 1 check (id = 1),
  -- Bumped by every setMilestones.
  version int not null default 0,
  -- The version whose review has finished.
  reviewed_version int not null default 0,
  -- The last member reviewed for `version` (members are reviewed in id order); null before the first batch.
  review_after uuid
);

-- Milestones configured before this migration are reviewed once, as every pass did until now.
insert into milestone_review (version) select case when exists (select 1 from tier_milestones) then 1 else 0 end;

-- Due lots by expiry with their member, so the sweep finds the members due from the due lots
-- alone (an index-only scan) whatever the size of the ledger.
drop index point_lots_due_idx;
create index point_lots_due_idx on point_lots (expires_at) include (member_id) where remaining > 0 and expires_at is not null;
