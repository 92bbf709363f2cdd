/** A member's statement, newest first, ten entries a page. */
import { useEffect, useState } from 'react';
import { Card, Loading, format, useQuery } from '../ui';

const STATEMENT = `query ConsoleStatement($id: ID!, $after: String) {
  member(id: $id) {
    transactions(first: 10, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id type points status description orderId partnerId occurredAt } }
    }
  }
}`;

interface StatementData {
  member: { transactions: {
    totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: { node: { id: string; type: string; points: number; status: string; description: string | null; orderId: string | null; partnerId: string | null; occurredAt: string } }[];
  } } | null;
}

export function Statement({ memberId, version }: { memberId: string; version: number }) {
  const [pages, setPages] = useState<(string | null)[]>([null]);
  // A change to the member (an adjustment, say) shows the statement from its newest entry again.
  useEffect(() => setPages([null]), [version]);
  const state = useQuery<StatementData>(STATEMENT, { id: memberId, after: pages[pages.length - 1] ?? null }, { version });
  return (
    <Card title="Statement">
      <Loading state={state}>
        {({ member }) => {
          const tx = member?.transactions;
          if (!tx) return null;
          return (
            <>
              <p className="muted">{format.points(tx.totalCount)} {tx.totalCount === 1 ? 'entry' : 'entries'} · page {pages.length}</p>
              <div className="table-wrap">
                <table aria-label="Statement">
                  <thead><tr><th scope="col">When</th><th scope="col">Type</th><th scope="col">Description</th><th scope="col">Status</th><th scope="col" className="num">Points</th></tr></thead>
                  <tbody>
                    {tx.edges.map(({ node: t }) => (
                      <tr key={t.id}>
                        <td>{format.when(t.occurredAt)}</td>
                        <td>{t.type}</td>
                        <td>{t.description ?? (t.orderId ? `Order ${t.orderId}` : '')}{t.partnerId && <span className="muted small"> · {t.partnerId}</span>}</td>
                        <td>{t.status}</td>
                        <td className={`num ${t.points < 0 ? 'debit' : 'credit'}`}>{t.points > 0 ? '+' : ''}{format.points(t.points)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div className="pager">
                <button type="button" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>Newer entries</button>
                <button type="button" disabled={!tx.pageInfo.hasNextPage} onClick={() => setPages((p) => [...p, tx.pageInfo.endCursor])}>Older entries</button>
              </div>
            </>
          );
        }}
      </Loading>
    </Card>
  );
}
