-- Referrals (src/referrals): what a referral pays each side, and one row per referred member.
-- A referral is attributed at enrolment (members.referred_by keeps pointing at the referrer) and
-- decided at the referee's first purchase, in the unit of work that records that purchase.
alter table program add column referral_referrer_points int not null default 0 check (referral_referrer_points >= 0);
alter table program add column referral_referee_points int not null default 0 check (referral_referee_points >= 0);
-- Null: no cap on a referrer's rewarded referrals.
alter table program add column referral_max_per_referrer int check (referral_max_per_referrer >= 0);

create table referrals (
  id uuid primary key,
  referrer_id uuid not null references members (id),
  -- A member is referred once, at its enrolment.
  referee_id uuid not null unique references members (id),
  status text not null default 'PENDING' check (status in ('PENDING', 'REWARDED', 'REVERSED', 'CAPPED')),
  -- The referee's first purchase, which decided the referral (REWARDED or CAPPED).
  order_id text,
  -- What each side was credited, and by which entries (null: nothing credited to that side).
  referrer_points int not null default 0 check (referrer_points >= 0),
  referee_points int not null default 0 check (referee_points >= 0),
  referrer_txn_id uuid,
  referee_txn_id uuid,
  created_at timestamptz not null,
  decided_at timestamptz,
  reversed_at timestamptz,
  check (referrer_id <> referee_id)
);
-- A referrer's referrals in order (Member.referrals), and its places under the cap.
create index referrals_referrer_idx on referrals (referrer_id, created_at, id);
-- A refund asks whether its order decided a referral.
create index referrals_order_idx on referrals (order_id) where order_id is not null;

-- Members referred before referrals were rewarded: those with no purchase yet have their first
-- purchase ahead and get a pending referral; those who have purchased already are left without
-- one (their first purchase is past, and rewarding a later one would not be a first purchase).
insert into referrals (id, referrer_id, referee_id, status, created_at)
select gen_random_uuid(), m.referred_by, m.id, 'PENDING', m.enrolled_at
from members m
where m.referred_by is not null and m.referred_by <> m.id
  and not exists (select 1 from orders o where o.member_id = m.id);
