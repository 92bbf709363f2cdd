-- Privacy requests (members.service eraseMember): when a member's personal data was erased.
alter table members add column erased_at timestamptz;
