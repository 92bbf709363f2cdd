-- A unit of work that decided on a snapshot of its members (ledger/unit-of-work.ts) writes only
-- if none of them changed since: its statement calls this with the answer, and a changed member
-- fails the whole statement with SQLSTATE MP409, which the service takes as "decide again under
-- the lock". Every change to a member's lots, entries, orders or tier state also writes the
-- member's row, so an unchanged row version covers all of them.
create function ledger_unchanged(unchanged boolean) returns boolean language plpgsql as $$
begin
  if not unchanged then
    raise exception 'a member changed after its unit of work read it' using errcode = 'MP409';
  end if;
  return true;
end
$$;
