-- Loyalty insights (src/insights): what programInsights needs over a million members, read from
-- one summary row per member instead of every order, member and tier row.
--
-- - Each member's purchases and net spend in the 365 days before its 365-day window: for the
--   year up to now, the buyer figures (repeat rate, Pareto, retention against the year before).
-- - The member's enrolment and whether it was erased, so that stage and churn-risk counts as of
--   an instant read the summary alone.
-- - Buyers of the year by spend, so that the top fifth's spend is read off an index.
-- - Members by enrolment, and those erased: members by tier as of an instant leaves out those
--   enrolled later or erased through these instead of reading every member.
--
-- The summary is emptied and taken anew, every member, at the next maintenance pass (with no
-- programme-wide row that pass is a full one); until then programInsights' asOf is null and its
-- stage and risk counts have every member SUSPECT and LOW, as before a first refresh.
delete from member_loyalty;
delete from loyalty_summary;
alter table member_loyalty
  add column frequency_prior_365 int not null,
  add column spend_prior_365 numeric(18, 2) not null,
  add column enrolled_at timestamptz not null,
  add column erased boolean not null;
create index member_loyalty_spend_idx on member_loyalty (spend_365 desc) where frequency_365 > 0;
create index members_enrolled_idx on members (enrolled_at);
create index members_erased_idx on members (id) where erased_at is not null;
