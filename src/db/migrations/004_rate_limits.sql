-- Request counters shared by every instance (rate-limiter-flexible's Postgres store layout).
create table rate_limits (
  key varchar(255) primary key,
  points integer not null default 0,
  expire bigint
);
