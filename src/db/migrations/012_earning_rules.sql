-- Earning rules and campaigns (src/rules): a rule's current version is its row; every version,
-- the current one included, is kept in earning_rule_versions, so what a ledger entry was awarded
-- under can always be read back.
alter table program add column timezone text not null default 'UTC';
alter table members add column tags text[] not null default '{}';
-- Purchases by time: a rule's dry run replays a period (and the insights read by period).
create index orders_time_idx on orders (occurred_at, order_id);

create table earning_rules (
  id uuid primary key,
  -- Creation order: ties of priority run oldest first, even when two rules share an instant.
  seq bigserial not null unique,
  version int not null check (version >= 1),
  name text not null,
  trigger text not null,
  condition text,
  effect_kind text not null check (effect_kind in ('FIXED', 'PER_UNIT', 'MULTIPLIER')),
  effect_points int,
  effect_rate numeric(12, 4),
  item_condition text,
  qualifying boolean not null default false,
  limit_count int check (limit_count >= 1),
  limit_period text check (limit_period in ('DAY', 'WEEK', 'MONTH', 'YEAR', 'LIFETIME')),
  budget_points int check (budget_points >= 1),
  -- What the rule has awarded against its budget: raised under the row's lock, with the credit.
  budget_spent int not null default 0,
  priority int not null default 0,
  exclusive boolean not null default false,
  starts_at timestamptz,
  ends_at timestamptz,
  active boolean not null default true,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check (budget_points is null or budget_spent <= budget_points)
);
create index earning_rules_order_idx on earning_rules (priority desc, seq);

create table earning_rule_versions (
  rule_id uuid not null references earning_rules (id),
  version int not null,
  definition jsonb not null,
  created_at timestamptz not null,
  primary key (rule_id, version)
);

-- The rule versions that gave a ledger entry its points, with the entry (null: none). A rule's
-- per-member limit counts the member's entries that name it.
alter table points_transactions add column rule_awards jsonb;

-- Engagement events recorded by recordEvent (and by the service: signup, birthday). The row is
-- the event's idempotency record, kept for good: a signup or a year's birthday is rewarded once.
create table member_events (
  id uuid primary key,
  member_id uuid not null references members (id),
  scope text not null,
  idempotency_key text not null,
  request_hash text not null,
  type text not null,
  attributes jsonb not null default '{}',
  occurred_at timestamptz not null,
  txn_id uuid,
  points_earned int not null,
  breakdown jsonb not null,
  created_at timestamptz not null,
  unique (scope, idempotency_key)
);
-- The birthday job's daily question: who was born on this month and day?
create index members_birthday_idx on members ((extract(month from birth_date)), (extract(day from birth_date)))
  where birth_date is not null;
create index member_events_time_idx on member_events (occurred_at);
create index member_events_member_idx on member_events (member_id, type, occurred_at);
