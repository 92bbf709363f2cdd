-- The rewards catalogue and its vouchers (src/rewards). A reward's stock is held by `issued`: the
-- unit of work that issues a voucher raises it in the same statement as the debit, only while it
-- stays within `stock` (when there is one), so stock is never oversold whatever the concurrency.
create table rewards (
  id uuid primary key,
  code text not null unique,
  name text not null,
  description text,
  points_cost int not null check (points_cost >= 1),
  type text not null check (type in ('VOUCHER', 'DISCOUNT', 'FREE_PRODUCT', 'PARTNER')),
  -- null: unlimited.
  stock int check (stock >= 0),
  -- Vouchers issued and not cancelled (a used or expired voucher keeps its unit of stock).
  issued int not null default 0 check (issued >= 0),
  per_member_limit int check (per_member_limit >= 1),
  min_tier_rank int,
  valid_from timestamptz,
  valid_until timestamptz,
  active boolean not null default true,
  partner_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check (valid_from is null or valid_until is null or valid_from < valid_until),
  check (stock is null or issued <= stock)
);
-- The catalogue is read cheapest first ("what can I get with my points").
create index rewards_cost_idx on rewards (points_cost, id);

create table redemptions (
  id uuid primary key,
  reward_id uuid not null references rewards (id),
  member_id uuid not null references members (id),
  points_spent int not null,
  voucher_code text not null unique,
  status text not null check (status in ('ISSUED', 'USED', 'CANCELLED', 'EXPIRED')),
  -- The partner whose call redeemed it (null: the member or an admin).
  partner_id text,
  -- The REDEEM entry that paid for it, and the REVERSAL that gave the points back on cancelling.
  txn_id uuid not null unique,
  reversal_txn_id uuid,
  -- The voucher is good until then (the reward's validUntil when it was issued; null: no end).
  valid_until timestamptz,
  created_at timestamptz not null,
  used_at timestamptz,
  cancelled_at timestamptz,
  cancel_reason text,
  expired_at timestamptz
);
-- A member's vouchers of a reward, for the per-member limit, and the member's list.
create index redemptions_member_idx on redemptions (member_id, reward_id, created_at);
-- The maintenance pass finds issued vouchers past their end.
create index redemptions_expiring_idx on redemptions (valid_until) where status = 'ISSUED' and valid_until is not null;

-- A unit of work's write that must change a row (ledger/unit-of-work.repo.ts: a count within its
-- cap, an update of a row still in the state read) and found none fails its whole statement
-- with SQLSTATE MP410, the write's place in the plan as DETAIL: nothing is written, and the unit
-- answers with that write's own refusal.
create function write_kept(kept boolean, write_index int) returns boolean language plpgsql as $$
begin
  if not kept then
    raise exception 'a write of a unit of work found no row it could change' using errcode = 'MP410', detail = write_index::text;
  end if;
  return true;
end
$$;
