-- Events out (src/webhooks). An event is written by the statement that writes the change it
-- reports (the unit of work's, ledger/unit-of-work.repo.ts), and in that same statement a
-- delivery is queued for every active webhook subscribed to it: a change rolled back emits
-- nothing, a change committed loses nothing.
create table webhooks (
  id uuid primary key,
  url text not null,
  -- Event names, or '*' for all.
  events text[] not null,
  description text,
  -- The HMAC-SHA256 key deliveries are signed with (shown once, at creation). Kept as is: the
  -- service must sign with it.
  secret text not null,
  active boolean not null default true,
  disabled_reason text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

create table outbox_events (
  id uuid primary key,
  -- Commit order within a member: its units write one after another.
  seq bigserial not null unique,
  type text not null,
  member_id uuid not null,
  data jsonb not null,
  created_at timestamptz not null
);
create index outbox_events_created_idx on outbox_events (created_at);

create table webhook_deliveries (
  id uuid primary key,
  webhook_id uuid not null references webhooks (id),
  event_id uuid not null references outbox_events (id) on delete cascade,
  event_seq bigint not null,
  event_type text not null,
  member_id uuid not null,
  status text not null check (status in ('PENDING', 'DELIVERED', 'FAILED')),
  attempts int not null default 0,
  last_status_code int,
  last_error text,
  -- Wall-clock times (the database's), never the test clock: deliveries meet real receivers.
  next_attempt_at timestamptz not null,
  -- A worker that claimed it holds it until then; past it, another may. Its attempt is recorded
  -- only while its claim is the delivery's latest.
  leased_until timestamptz,
  claim uuid,
  delivered_at timestamptz,
  created_at timestamptz not null
);
-- What the workers claim, oldest first.
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'PENDING';
-- A member's earlier deliveries to the same endpoint hold back its later ones.
create index webhook_deliveries_order_idx on webhook_deliveries (webhook_id, member_id, event_seq) where status = 'PENDING';
create index webhook_deliveries_list_idx on webhook_deliveries (webhook_id, created_at desc, id desc);
-- An event's deliveries, for the purge of old events.
create index webhook_deliveries_event_idx on webhook_deliveries (event_id);

-- Every attempt, for the delivery log.
create table webhook_attempts (
  delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
  attempt int not null,
  at timestamptz not null,
  status_code int,
  error text,
  duration_ms int not null,
  primary key (delivery_id, attempt)
);

-- The lots a points.expiring event has been sent for, at the expiry it told of: once per lot and
-- expiry (a lot whose expiry moves, under the inactivity policy, is told of again), whichever
-- instance's maintenance pass finds it first. Purged with the events.
create table expiring_notices (
  lot_id uuid not null,
  expires_at timestamptz not null,
  member_id uuid not null,
  created_at timestamptz not null,
  primary key (lot_id, expires_at)
);
