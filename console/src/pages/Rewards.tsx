/** The rewards catalogue (create, edit, stock left) and a voucher look-up for redemptions. */
import { useState } from 'react';
import { gql } from '../api';
import { Card, Check, ErrorMessage, Field, Loading, Notice, Select, format, toInstant, toInt, toLocalInput, useAction, useQuery } from '../ui';

const REWARDS = `query ConsoleRewards($after: String) {
  rewards(first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id code name description pointsCost type stock remaining perMemberLimit minTierRank validFrom validUntil active partnerId } }
  }
}`;
const CREATE = `mutation ConsoleCreateReward($input: RewardInput!) { createReward(input: $input) { id } }`;
const UPDATE = `mutation ConsoleUpdateReward($id: ID!, $input: RewardInput!) { updateReward(id: $id, input: $input) { id } }`;
const VOUCHER = `query ConsoleVoucher($code: String!) { voucher(code: $code) { id voucherCode status memberId pointsSpent createdAt usedAt reward { name } } }`;

interface Reward {
  id: string; code: string; name: string; description: string | null; pointsCost: number; type: string; stock: number | null; remaining: number | null;
  perMemberLimit: number | null; minTierRank: number | null; validFrom: string | null; validUntil: string | null; active: boolean; partnerId: string | null;
}
interface RewardsData { rewards: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: Reward }[] } }

export function Rewards() {
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const [editing, setEditing] = useState<Reward | 'new' | null>(null);
  const state = useQuery<RewardsData>(REWARDS, { after: pages[pages.length - 1] ?? null });
  return (
    <>
      <p className="toolbar"><button type="button" onClick={() => setEditing('new')}>New reward</button></p>
      {editing && <RewardForm key={editing === 'new' ? 'new' : editing.id} reward={editing === 'new' ? null : editing}
        onDone={() => { setEditing(null); state.reload(); }} onCancel={() => setEditing(null)} />}
      <Loading state={state}>
        {({ rewards }) => (
          <>
          <div className="table-wrap">
            <table aria-label="Rewards">
              <thead><tr><th scope="col">Reward</th><th scope="col">Code</th><th scope="col">Type</th><th scope="col" className="num">Cost</th><th scope="col" className="num">Stock left</th><th scope="col">Limits</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
              <tbody>
                {rewards.edges.map(({ node: r }) => (
                  <tr key={r.id}>
                    <td>{r.name}{r.partnerId && <div className="muted small">by {r.partnerId}</div>}</td>
                    <td><code>{r.code}</code></td>
                    <td>{r.type}</td>
                    <td className="num">{format.points(r.pointsCost)}</td>
                    <td className="num" data-label="stock">{r.stock === null ? 'unlimited' : `${format.points(r.remaining)} of ${format.points(r.stock)}`}</td>
                    <td className="small">{[r.perMemberLimit !== null && `${r.perMemberLimit} per member`, r.minTierRank !== null && `tier rank ≥ ${r.minTierRank}`, r.validUntil && `until ${format.day(r.validUntil)}`].filter(Boolean).join(' · ') || '—'}</td>
                    <td>{r.active ? 'Active' : 'Inactive'}</td>
                    <td><button type="button" onClick={() => setEditing(r)} aria-label={`Edit ${r.name}`}>Edit</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {(pages.length > 1 || rewards.pageInfo.hasNextPage) && (
            <div className="pager">
              <button type="button" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>Previous page</button>
              <button type="button" disabled={!rewards.pageInfo.hasNextPage} onClick={() => setPages((p) => [...p, rewards.pageInfo.endCursor])}>Next page</button>
            </div>
          )}
          </>
        )}
      </Loading>
      <VoucherLookup />
    </>
  );
}

function RewardForm({ reward, onDone, onCancel }: { reward: Reward | null; onDone: () => void; onCancel: () => void }) {
  const [d, setD] = useState({
    code: reward?.code ?? '', name: reward?.name ?? '', description: reward?.description ?? '', pointsCost: reward?.pointsCost.toString() ?? '',
    type: reward?.type ?? 'VOUCHER', stock: reward?.stock?.toString() ?? '', perMemberLimit: reward?.perMemberLimit?.toString() ?? '',
    minTierRank: reward?.minTierRank?.toString() ?? '', validFrom: toLocalInput(reward?.validFrom), validUntil: toLocalInput(reward?.validUntil),
    active: reward?.active ?? true, partnerId: reward?.partnerId ?? '',
  });
  const set = <K extends keyof typeof d>(key: K) => (value: (typeof d)[K]) => setD((x) => ({ ...x, [key]: value }));
  const action = useAction();
  const err = action.fieldError;
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const input = {
      code: d.code.trim(), name: d.name.trim(), description: d.description.trim() || null, pointsCost: toInt(d.pointsCost), type: d.type,
      stock: toInt(d.stock), perMemberLimit: toInt(d.perMemberLimit), minTierRank: toInt(d.minTierRank),
      validFrom: toInstant(d.validFrom), validUntil: toInstant(d.validUntil), active: d.active, partnerId: d.partnerId.trim() || null,
    };
    if (await action.run(() => (reward ? gql(UPDATE, { id: reward.id, input }) : gql(CREATE, { input })))) onDone();
  };
  return (
    <Card title={reward ? `Edit ${reward.name}` : 'New reward'}>
      <form onSubmit={submit} noValidate>
        <div className="grid-3 tight">
          <Field label="Code" value={d.code} onChange={set('code')} required error={err('code')} hint="Letters, digits, _ or -" />
          <Field label="Name" value={d.name} onChange={set('name')} required error={err('name')} />
          <Select label="Type" value={d.type} onChange={set('type')} options={['VOUCHER', 'DISCOUNT', 'FREE_PRODUCT', 'PARTNER']} error={err('type')} />
          <Field label="Cost in points" type="number" value={d.pointsCost} onChange={set('pointsCost')} required error={err('pointsCost')} />
          <Field label="Stock (empty: unlimited)" type="number" value={d.stock} onChange={set('stock')} error={err('stock')} />
          <Field label="Per member (empty: unlimited)" type="number" value={d.perMemberLimit} onChange={set('perMemberLimit')} error={err('perMemberLimit')} />
          <Field label="Lowest tier rank" type="number" value={d.minTierRank} onChange={set('minTierRank')} error={err('minTierRank')} />
          <Field label="Valid from" type="datetime-local" value={d.validFrom} onChange={set('validFrom')} error={err('validFrom')} />
          <Field label="Valid until" type="datetime-local" value={d.validUntil} onChange={set('validUntil')} error={err('validUntil')} />
          <Field label="Fulfilled by partner" value={d.partnerId} onChange={set('partnerId')} error={err('partnerId')} />
        </div>
        <Field label="Description" value={d.description} onChange={set('description')} multiline error={err('description')} />
        <Check label="Active" checked={d.active} onChange={set('active')} />
        <ErrorMessage error={action.formError} />
        <div className="form-actions">
          <button type="submit" disabled={action.busy}>{reward ? 'Save reward' : 'Create reward'}</button>
          <button type="button" className="ghost" onClick={onCancel}>Cancel</button>
        </div>
      </form>
    </Card>
  );
}

interface Voucher { id: string; voucherCode: string; status: string; memberId: string; pointsSpent: number; createdAt: string; usedAt: string | null; reward: { name: string } }

function VoucherLookup() {
  const [code, setCode] = useState('');
  const [found, setFound] = useState<Voucher | null>();
  const action = useAction();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const result = await action.run(() => gql<{ voucher: Voucher | null }>(VOUCHER, { code: code.trim() }));
    if (result) setFound(result.voucher);
  };
  return (
    <Card title="Find a redemption by voucher code">
      <form className="inline-fields" onSubmit={submit}>
        <Field label="Voucher code" value={code} onChange={setCode} required error={action.fieldError('code')} />
        <button type="submit" disabled={action.busy}>Find</button>
      </form>
      <ErrorMessage error={action.formError} />
      {found === null && <Notice>No voucher has that code.</Notice>}
      {found && (
        <p role="status">{found.reward.name}: <code>{found.voucherCode}</code> {found.status.toLowerCase()}, {format.points(found.pointsSpent)} points, issued {format.when(found.createdAt)}
          {' '}to <a href={`#/members/${found.memberId}`}>this member</a> (manage it on the member's page).</p>
      )}
    </Card>
  );
}
