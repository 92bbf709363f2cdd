-- Loyalty insights (src/insights): what programInsights needs over a million members, read from
-- one summary row per member instead of every order, member and tier row.
--
-- - Each member's purchases and net spend in the 365 days before its 365-day window: for the
--   year up to now, the buyer figures (repeat rate, Pareto, retention against the year before).
-- - The member's enrolment, so that stage and churn-risk counts as of an instant read the summary
--   alone (erased members have no row: the refresh removes it).
-- - Buyers of the year by spend, so that the top fifth's spend is read off an index.
-- - Members by enrolment, and those erased: members by tier as of an instant leaves out those
--   enrolled later or erased through these instead of reading every member.
alter table member_loyalty
  add column frequency_prior_365 int not null default 0,
  add column spend_prior_365 numeric(18, 2) not null default 0,
  add column enrolled_at timestamptz not null default '-infinity';
create index member_loyalty_spend_idx on member_loyalty (spend_365 desc) where frequency_365 > 0;
create index members_enrolled_idx on members (enrolled_at);
create index members_erased_idx on members (id) where erased_at is not null;
-- The rows written before this hold neither: the summary is taken anew, every member, at the
-- next maintenance pass (a missing programme-wide row makes that pass a full one).
delete from loyalty_summary;
