-- Rate-limit counters live for one minute and may be lost without harm, so they skip the
-- write-ahead log: counting a request then costs no WAL record and no flush at commit. After a
-- crash PostgreSQL empties an unlogged table (every caller starts a fresh window), and standbys
-- do not receive it; neither matters for a one-minute window.
alter table rate_limits set unlogged;
