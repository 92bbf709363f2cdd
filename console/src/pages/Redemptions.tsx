/** A member's reward redemptions, with the till's and the back office's actions on them. */
import { gql } from '../api';
import { Card, ErrorMessage, Loading, format, useAction, useQuery } from '../ui';

const REDEMPTIONS = `query ConsoleRedemptions($id: ID!) {
  redemptions(memberId: $id, first: 20) {
    totalCount
    edges { node { id voucherCode status pointsSpent createdAt usedAt reward { name code } } }
  }
}`;
const MARK_USED = `mutation ConsoleMarkUsed($id: ID!) { markRedemptionUsed(id: $id) { id status } }`;
const CANCEL = `mutation ConsoleCancelRedemption($id: ID!, $reason: String) { cancelRedemption(id: $id, reason: $reason) { id status } }`;

interface RedemptionsData {
  redemptions: { totalCount: number; edges: { node: { id: string; voucherCode: string; status: string; pointsSpent: number; createdAt: string; usedAt: string | null; reward: { name: string; code: string } } }[] };
}

export function Redemptions({ memberId, version, onChanged }: { memberId: string; version: number; onChanged: () => void }) {
  const state = useQuery<RedemptionsData>(REDEMPTIONS, { id: memberId }, { version });
  const action = useAction();
  const act = async (query: string, variables: Record<string, unknown>) => {
    if (await action.run(() => gql(query, variables))) onChanged();
  };
  return (
    <Card title="Reward redemptions">
      <ErrorMessage error={action.error} />
      <Loading state={state}>
        {({ redemptions }) => (redemptions.edges.length === 0 ? <p className="muted">No rewards redeemed yet.</p> : (
          <div className="table-wrap">
            <table aria-label="Reward redemptions">
              <thead><tr><th scope="col">When</th><th scope="col">Reward</th><th scope="col">Voucher</th><th scope="col">Status</th><th scope="col" className="num">Points</th><th scope="col">Actions</th></tr></thead>
              <tbody>
                {redemptions.edges.map(({ node: r }) => (
                  <tr key={r.id}>
                    <td>{format.when(r.createdAt)}</td>
                    <td>{r.reward.name}</td>
                    <td><code>{r.voucherCode}</code></td>
                    <td>{r.status}</td>
                    <td className="num">{format.points(r.pointsSpent)}</td>
                    <td className="actions">
                      {r.status === 'ISSUED' && <>
                        <button type="button" onClick={() => act(MARK_USED, { id: r.id })} aria-label={`Mark voucher ${r.voucherCode} used`}>Mark used</button>
                        <button type="button" className="danger" onClick={() => act(CANCEL, { id: r.id, reason: 'Cancelled in the admin console' })} aria-label={`Cancel voucher ${r.voucherCode} and give the points back`}>Cancel</button>
                      </>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </Loading>
    </Card>
  );
}
