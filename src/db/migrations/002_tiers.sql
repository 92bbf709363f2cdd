-- Tier settings on the programme (see docs/tiers.md).
alter table program
  add column qualification_window text not null default 'ROLLING_12_MONTHS'
    check (qualification_window in ('ROLLING_12_MONTHS', 'CALENDAR_YEAR', 'ANNIVERSARY_YEAR')),
  add column downgrade_mode text not null default 'ONE_TIER' check (downgrade_mode in ('ONE_TIER', 'TO_QUALIFIED')),
  add column grace_months int not null default 0 check (grace_months between 0 and 24),
  -- Holding a tier of at least this rank freezes point expiry; null: never.
  add column freeze_expiry_min_rank int,
  add column streak_period text not null default 'MONTH' check (streak_period in ('MONTH', 'QUARTER')),
  -- A bonus each time a streak reaches a multiple of this many periods; null: no streak bonus.
  add column streak_length int check (streak_length between 2 and 120),
  add column streak_bonus_points int not null default 0 check (streak_bonus_points >= 0);

-- More ways to qualify, benefits, invitation-only and lifetime thresholds on each rung.
alter table tiers
  add column qualifying_spend_required numeric(14, 2) check (qualifying_spend_required >= 0),
  add column qualifying_purchases_required int check (qualifying_purchases_required >= 0),
  add column threshold_match text not null default 'ANY' check (threshold_match in ('ANY', 'ALL')),
  add column perks jsonb not null default '[]',
  add column reward_codes jsonb not null default '[]',
  add column invitation_only boolean not null default false,
  add column lifetime_qualifying_points_required int check (lifetime_qualifying_points_required > 0);

-- Bonuses at lifetime qualifying thresholds.
create table tier_milestones (
  lifetime_qualifying_points int primary key check (lifetime_qualifying_points > 0),
  name text not null,
  bonus_points int not null check (bonus_points > 0)
);

-- Each member's held tier. tier_code already includes lifetime status; an ADMIN assignment is a
-- separate floor with its own end. No row: the lowest tier since enrolment.
create table member_tiers (
  member_id uuid primary key references members (id),
  tier_code text not null,
  since timestamptz not null,
  valid_until timestamptz,
  grace_until timestamptz,
  lifetime_code text,
  assigned_code text,
  assigned_since timestamptz,
  assigned_until timestamptz,
  -- Whether expiry was frozen in the stored state: a freeze lost is when overdue lots get a new date.
  expiry_frozen boolean not null default false,
  version int not null default 0,
  updated_at timestamptz not null
);
create index member_tiers_due_idx on member_tiers (least(grace_until, valid_until, assigned_until));

create table tier_history (
  seq bigserial primary key,
  member_id uuid not null references members (id),
  at timestamptz not null,
  from_code text not null,
  to_code text not null,
  reason text not null check (reason in ('UPGRADE', 'DOWNGRADE', 'REQUALIFIED', 'ASSIGNED', 'ASSIGNMENT_ENDED',
    'LIFETIME', 'REFUND_REVERSAL', 'GRACE_STARTED')),
  valid_until timestamptz,
  previous_valid_until timestamptz,
  previous_since timestamptz,
  note text,
  created_at timestamptz not null
);
create index tier_history_member_idx on tier_history (member_id, seq desc);

-- Bonuses awarded, each exactly once.
create table member_milestones (
  member_id uuid not null references members (id),
  lifetime_qualifying_points int not null,
  txn_id uuid not null references points_transactions (id),
  awarded_at timestamptz not null,
  primary key (member_id, lifetime_qualifying_points)
);
create table member_streak_awards (
  member_id uuid not null references members (id),
  period_start timestamptz not null,
  streak_length int not null,
  txn_id uuid not null references points_transactions (id),
  awarded_at timestamptz not null,
  primary key (member_id, period_start)
);
