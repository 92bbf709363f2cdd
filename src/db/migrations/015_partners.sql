-- Registered partners (src/partners): who may hold a PARTNER token, the client secret it trades
-- for one at POST /oauth/token (stored hashed, never in clear) and its own earn rate.
create table partners (
  partner_id text primary key,
  name text not null,
  active boolean not null default true,
  -- Points per currency unit for this partner's purchases; null: the programme's.
  earn_rate numeric(12, 4) check (earn_rate >= 0),
  -- Whether tokens issued at /oauth/token carry personalData (members' name, email, phone, birth date).
  personal_data boolean not null default false,
  secret_hash text not null,
  -- After a rotation the previous secret keeps working until previous_secret_expires_at.
  previous_secret_hash text,
  previous_secret_expires_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
-- Ids differing only in case would read as one partner on a statement: refused as duplicates.
create unique index partners_partner_id_lower_idx on partners (lower(partner_id));

-- A partner's settlement reads its ledger entries by when they were written.
create index points_transactions_partner_created_idx on points_transactions (partner_id, created_at) where partner_id is not null;
