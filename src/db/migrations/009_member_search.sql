-- Member search (`members(search:)`) matches a substring of the external id, email or name,
-- case-insensitively (ILIKE '%…%'). Without an index that reads every member: 3.4-4.8 s a page
-- at 1,000,000 members. Trigram indexes answer such patterns of three characters or more.
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension; it goes in public so that
-- every schema of the database finds it.
create extension if not exists pg_trgm with schema public;
create index members_search_idx on members
  using gin (external_id public.gin_trgm_ops, email public.gin_trgm_ops, name public.gin_trgm_ops);
