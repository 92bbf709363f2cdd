/** Members: search by name, e-mail or external id, filter by status, page through, open one. */
import { useState } from 'react';
import { Field, Loading, Select, format, useQuery } from '../ui';

const MEMBERS = `query ConsoleMembers($search: String, $status: MemberStatus, $after: String) {
  members(first: 20, search: $search, status: $status, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id externalId name email status enrolledAt balance { available } tier { current { name } } } }
  }
}`;

interface MemberRow {
  id: string; externalId: string; name: string | null; email: string | null; status: string; enrolledAt: string;
  balance: { available: number }; tier: { current: { name: string } };
}
interface MembersData {
  members: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: MemberRow }[] };
}

export function Members() {
  const [typed, setTyped] = useState('');
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('');
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const after = pages[pages.length - 1] ?? null;
  const state = useQuery<MembersData>(MEMBERS, { search: search || null, status: status || null, after });
  return (
    <>
      <form className="toolbar" role="search" onSubmit={(e) => { e.preventDefault(); setSearch(typed.trim()); setPages([null]); }}>
        <Field label="Search members" type="search" value={typed} onChange={setTyped} placeholder="name, e-mail or external id" />
        <Select label="Status" value={status} onChange={(v) => { setStatus(v); setPages([null]); }}
          options={[{ value: '', label: 'Any' }, 'ACTIVE', 'SUSPENDED', 'CLOSED']} />
        <button type="submit">Search</button>
      </form>
      <Loading state={state}>
        {({ members }) => (
          <>
            <p className="muted" role="status">{format.points(members.totalCount)} member{members.totalCount === 1 ? '' : 's'}{search && ` matching “${search}”`}</p>
            <div className="table-wrap">
              <table>
                <thead><tr><th scope="col">Member</th><th scope="col">External id</th><th scope="col">Status</th><th scope="col">Tier</th><th scope="col" className="num">Available</th><th scope="col">Enrolled</th></tr></thead>
                <tbody>
                  {members.edges.map(({ node: m }) => (
                    <tr key={m.id}>
                      <td><a href={`#/members/${m.id}`}>{m.name ?? m.email ?? m.externalId}</a>{m.email && m.name && <div className="muted small">{m.email}</div>}</td>
                      <td>{m.externalId}</td>
                      <td><span className={`badge ${m.status.toLowerCase()}`}>{m.status}</span></td>
                      <td>{m.tier.current.name}</td>
                      <td className="num">{format.points(m.balance.available)}</td>
                      <td>{format.day(m.enrolledAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="pager">
              <button type="button" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>Previous page</button>
              <button type="button" disabled={!members.pageInfo.hasNextPage} onClick={() => setPages((p) => [...p, members.pageInfo.endCursor])}>Next page</button>
            </div>
          </>
        )}
      </Loading>
    </>
  );
}
