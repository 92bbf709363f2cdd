-- Programme settings: one row.
create table program (
  id smallint primary key default 1 check (id = 1),
  name text not null default 'Milepost Rewards',
  points_name text not null default 'points',
  currency char(3) not null default 'USD',
  earn_rate numeric(12, 4) not null default 1 check (earn_rate >= 0),
  pending_days int not null default 0 check (pending_days between 0 and 365),
  expiry_mode text not null default 'NONE' check (expiry_mode in ('NONE', 'FIXED', 'INACTIVITY')),
  expiry_months int check (expiry_months between 1 and 240),
  round_to_quarter_end boolean not null default false,
  allow_negative_balance boolean not null default false,
  point_value numeric(12, 6) not null default 0.01 check (point_value >= 0),
  updated_at timestamptz not null default now()
);
insert into program default values;

-- The tier ladder; the lowest rank requires 0 qualifying points.
create table tiers (
  code text primary key,
  name text not null,
  rank int not null unique,
  qualifying_points_required int not null check (qualifying_points_required >= 0),
  earn_multiplier numeric(6, 3) not null default 1 check (earn_multiplier > 0)
);
insert into tiers (code, name, rank, qualifying_points_required, earn_multiplier)
values ('MEMBER', 'Member', 0, 0, 1);

-- The test clock: when set (and TEST_CLOCK_ENABLED), every instance reads this instant as now.
create table service_clock (
  id smallint primary key default 1 check (id = 1),
  frozen_at timestamptz
);
insert into service_clock default values;

create table members (
  id uuid primary key,
  external_id text not null unique,
  email text,
  name text,
  birth_date date,
  phone text,
  locale text,
  status text not null default 'ACTIVE' check (status in ('ACTIVE', 'SUSPENDED', 'CLOSED')),
  status_reason text,
  enrolled_at timestamptz not null,
  referral_code text not null unique,
  referred_by uuid references members (id),
  -- Ledger aggregates kept in the same transaction as the entries they sum; verify-ledger checks them.
  debt int not null default 0 check (debt >= 0),
  lifetime_earned int not null default 0,
  lifetime_redeemed int not null default 0,
  expired int not null default 0,
  last_activity_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index members_email_idx on members (lower(email));
create index members_created_idx on members (created_at, id);

-- The ledger: append-only; a transaction's status is derived from available_at and cancelled.
create table points_transactions (
  seq bigserial not null unique,
  id uuid primary key,
  member_id uuid not null references members (id),
  type text not null check (type in ('EARN', 'PURCHASE', 'REDEEM', 'REFUND', 'EXPIRE', 'ADJUST',
    'TRANSFER_IN', 'TRANSFER_OUT', 'REVERSAL', 'BONUS')),
  points int not null,
  qualifying_points int not null default 0,
  -- A debit that found fewer points than it asked for: what it could not take.
  shortfall int not null default 0 check (shortfall >= 0),
  available_at timestamptz not null,
  cancelled boolean not null default false,
  description text,
  order_id text,
  partner_id text,
  actor text not null,
  related_id uuid,
  occurred_at timestamptz not null,
  created_at timestamptz not null
);
create index points_transactions_member_idx on points_transactions (member_id, seq desc);
create index points_transactions_member_occurred_idx on points_transactions (member_id, occurred_at);

-- Every credit is a lot; remaining = points - what was drawn from it.
create table point_lots (
  id uuid primary key,
  member_id uuid not null references members (id),
  txn_id uuid not null references points_transactions (id),
  points int not null check (points > 0),
  remaining int not null check (remaining >= 0 and remaining <= points),
  available_at timestamptz not null,
  expires_at timestamptz,
  earned_at timestamptz not null
);
create index point_lots_open_idx on point_lots (member_id, expires_at, earned_at) where remaining > 0;
create index point_lots_due_idx on point_lots (expires_at) where remaining > 0 and expires_at is not null;

-- Which lots each debit drew from. kind EXPIRE is unique per lot: a lot expires once.
create table lot_allocations (
  member_id uuid not null,
  txn_id uuid not null references points_transactions (id),
  lot_id uuid not null references point_lots (id),
  points int not null check (points > 0),
  kind text not null check (kind in ('DEBIT', 'EXPIRE', 'DEBT')),
  primary key (txn_id, lot_id)
);
create unique index lot_allocations_expire_once on lot_allocations (lot_id) where kind = 'EXPIRE';
create index lot_allocations_lot_idx on lot_allocations (lot_id);

create table orders (
  order_id text primary key,
  member_id uuid not null references members (id),
  partner_id text,
  amount numeric(14, 2) not null check (amount > 0),
  currency char(3) not null,
  channel text,
  items jsonb,
  occurred_at timestamptz not null,
  txn_id uuid references points_transactions (id),
  points_earned int not null,
  qualifying_points int not null,
  breakdown jsonb not null default '[]',
  refunded_amount numeric(14, 2) not null default 0,
  points_reversed int not null default 0,
  qualifying_reversed int not null default 0,
  request_hash text not null,
  created_at timestamptz not null
);
create index orders_member_idx on orders (member_id, occurred_at);

create table refunds (
  refund_id text primary key,
  order_id text not null references orders (order_id),
  member_id uuid not null references members (id),
  amount numeric(14, 2) not null check (amount > 0),
  txn_id uuid references points_transactions (id),
  points_reversed int not null,
  request_hash text not null,
  created_at timestamptz not null
);

create table idempotency_keys (
  scope text not null,
  key text not null,
  member_id uuid,
  operation text not null,
  request_hash text not null,
  result jsonb not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  primary key (scope, key)
);
create index idempotency_keys_expiry_idx on idempotency_keys (expires_at);
