-- Loyalty insights and feedback (src/insights): survey answers, complaints, and the per-member
-- summary the maintenance pass keeps so that programme-wide figures need not visit every order.

alter table program add column complaint_sla_hours int not null default 48 check (complaint_sla_hours between 1 and 8760);

-- NPS answers. Idempotent per caller (scope) and key, like recorded events.
create table survey_responses (
  id uuid primary key,
  member_id uuid not null references members (id),
  score smallint not null check (score between 0 and 10),
  comment text,
  channel text,
  scope text not null,
  idempotency_key text not null,
  request_hash text not null,
  created_at timestamptz not null,
  unique (scope, idempotency_key)
);
-- A member's latest answer (Member.loyalty), and the answers in a range (programInsights).
create index survey_responses_member_idx on survey_responses (member_id, created_at desc);
create index survey_responses_time_idx on survey_responses (created_at);

create table complaints (
  id uuid primary key,
  member_id uuid not null references members (id),
  category text not null,
  description text not null,
  channel text,
  status text not null default 'OPEN' check (status in ('OPEN', 'RESOLVED')),
  resolution text,
  goodwill_points int not null default 0 check (goodwill_points >= 0),
  -- The BONUS entry that credited the goodwill points (null: none).
  goodwill_txn_id uuid,
  scope text not null,
  idempotency_key text not null,
  request_hash text not null,
  -- The resolution's own idempotency: who resolved it, under which key, with what request.
  resolve_scope text,
  resolve_key text,
  resolve_hash text,
  created_at timestamptz not null,
  resolved_at timestamptz,
  unique (scope, idempotency_key),
  unique (resolve_scope, resolve_key)
);
create index complaints_member_idx on complaints (member_id, created_at desc);
create index complaints_time_idx on complaints (created_at);
create index complaints_resolved_idx on complaints (resolved_at) where resolved_at is not null;
create index complaints_open_idx on complaints (created_at) where status = 'OPEN';

-- Block-range indexes follow insertion order at almost no cost to the write path: credits,
-- debits and expiries over a range, programme-wide, and what changed since the summary's last
-- refresh.
create index points_transactions_created_brin on points_transactions using brin (created_at);
create index orders_created_brin on orders using brin (created_at);
create index refunds_created_brin on refunds using brin (created_at);
create index member_events_created_brin on member_events using brin (created_at);

-- What each member's loyalty profile is made of, as of refreshed_at: the moments its ladder
-- stage and churn risk change (so a count "as of" any instant is a comparison of timestamps),
-- and its 365-day spend (to rank the at-risk list). Members with no purchase and no engagement
-- have no row: they are SUSPECT.
create table member_loyalty (
  member_id uuid primary key references members (id),
  purchases int not null,
  last_purchase_at timestamptz,
  prospect_at timestamptz,
  first_time_at timestamptz,
  repeat_at timestamptz,
  advocate_at timestamptz,
  churn_medium_at timestamptz,
  churn_high_at timestamptz,
  spend_365 numeric(18, 2) not null,
  frequency_365 int not null,
  refreshed_at timestamptz not null
);
-- The win-back list: members at high risk, highest spend first.
create index member_loyalty_at_risk_idx on member_loyalty (spend_365 desc, member_id) where churn_high_at is not null;

-- The programme-wide part of the summary: when it was refreshed (all members, or those changed
-- since), the median gap between purchases, and the RFM quintile breaks across buyers.
create table loyalty_summary (
  id int primary key default 1 check (id = 1),
  refreshed_at timestamptz not null,
  full_refreshed_at timestamptz not null,
  median_gap_days double precision,
  buyers int not null,
  recency_breaks double precision[] not null,
  frequency_breaks double precision[] not null,
  monetary_breaks double precision[] not null
);
