-- Loyalty insights (src/insights): the summary also keeps each member's purchases and net spend
-- in the 365 days before its 365-day window, so that programInsights for the year up to now
-- answers its buyer figures (repeat rate, Pareto, retention against the year before) from one
-- row per member instead of every order of two years.
alter table member_loyalty
  add column frequency_prior_365 int not null default 0,
  add column spend_prior_365 numeric(18, 2) not null default 0;
-- The rows written before this hold no prior year: the summary is taken anew, every member,
-- at the next maintenance pass (a missing programme-wide row makes that pass a full one).
delete from loyalty_summary;
