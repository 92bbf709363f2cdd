/** What an administrator does to a member: adjust points, assign a tier, suspend or reactivate. */
import { useState } from 'react';
import { actionKey, gql } from '../api';
import { Card, ErrorMessage, Field, Notice, Select, toInstant, toInt, useAction } from '../ui';
import type { MemberData } from './MemberPage';

const ADJUST = `mutation ConsoleAdjust($input: AdjustPointsInput!) { adjustPoints(input: $input) { id points } }`;
const ASSIGN = `mutation ConsoleAssignTier($input: AssignTierInput!) { assignTier(input: $input) { id } }`;
const STATUS = `mutation ConsoleMemberStatus($input: SetMemberStatusInput!) { setMemberStatus(input: $input) { id status } }`;

type Member = NonNullable<MemberData['member']>;

export function MemberActions({ member, tiers, onChanged }: { member: Member; tiers: MemberData['program']['tiers']; onChanged: () => void }) {
  return (
    <div className="grid-3">
      <AdjustPoints memberId={member.id} onChanged={onChanged} />
      <AssignTier memberId={member.id} tiers={tiers} onChanged={onChanged} />
      <MemberStatus member={member} onChanged={onChanged} />
    </div>
  );
}

function AdjustPoints({ memberId, onChanged }: { memberId: string; onChanged: () => void }) {
  const [points, setPoints] = useState('');
  const [reason, setReason] = useState('');
  const [done, setDone] = useState<string>();
  const action = useAction();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(undefined);
    const result = await action.run(() => gql<{ adjustPoints: { points: number } }>(ADJUST, {
      input: { memberId, points: toInt(points), reason: reason.trim(), idempotencyKey: actionKey('adjust') },
    }));
    if (result) {
      setDone(`Adjusted by ${result.adjustPoints.points} points.`);
      setPoints('');
      setReason('');
      onChanged();
    }
  };
  return (
    <Card title="Adjust points">
      <form onSubmit={submit}>
        <Field label="Points (negative to deduct)" type="number" value={points} onChange={setPoints} required error={action.fieldError('points')} />
        <Field label="Reason for the adjustment" value={reason} onChange={setReason} required error={action.fieldError('reason')} hint="Kept on the ledger entry and shown on the statement." />
        <ErrorMessage error={action.formError} />
        {done && <Notice>{done}</Notice>}
        <button type="submit" disabled={action.busy}>Adjust</button>
      </form>
    </Card>
  );
}

function AssignTier({ memberId, tiers, onChanged }: { memberId: string; tiers: MemberData['program']['tiers']; onChanged: () => void }) {
  const [tierCode, setTierCode] = useState(tiers[tiers.length - 1]?.code ?? '');
  const [until, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const [done, setDone] = useState<string>();
  const action = useAction();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(undefined);
    const result = await action.run(() => gql(ASSIGN, { input: { memberId, tierCode, until: toInstant(until), reason: reason.trim() || null } }));
    if (result) {
      setDone('Tier assigned.');
      onChanged();
    }
  };
  return (
    <Card title="Assign a tier">
      <form onSubmit={submit}>
        <Select label="Tier" value={tierCode} onChange={setTierCode} options={tiers.map((t) => ({ value: t.code, label: `${t.name}${t.invitationOnly ? ' (invitation only)' : ''}` }))} error={action.fieldError('tierCode')} />
        <Field label="Until" type="datetime-local" value={until} onChange={setUntil} required error={action.fieldError('until')} />
        <Field label="Reason for the assignment" value={reason} onChange={setReason} error={action.fieldError('reason')} />
        <ErrorMessage error={action.formError} />
        {done && <Notice>{done}</Notice>}
        <button type="submit" disabled={action.busy}>Assign</button>
      </form>
    </Card>
  );
}

function MemberStatus({ member, onChanged }: { member: Member; onChanged: () => void }) {
  const [reason, setReason] = useState('');
  const action = useAction();
  const next = member.status === 'ACTIVE' ? 'SUSPENDED' : 'ACTIVE';
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const result = await action.run(() => gql(STATUS, { input: { id: member.id, status: next, reason: reason.trim() || null } }));
    if (result) {
      setReason('');
      onChanged();
    }
  };
  if (member.status === 'CLOSED') {
    return <Card title="Standing"><p>This account is closed.</p></Card>;
  }
  return (
    <Card title="Standing">
      <form onSubmit={submit}>
        <p>The member is <strong>{member.status.toLowerCase()}</strong>.{member.status === 'ACTIVE' ? ' A suspended member cannot earn, redeem or transfer.' : ''}</p>
        <Field label={next === 'SUSPENDED' ? 'Reason for suspending' : 'Reason for reactivating'} value={reason} onChange={setReason} error={action.fieldError('reason')} />
        <ErrorMessage error={action.formError} />
        <button type="submit" className={next === 'SUSPENDED' ? 'danger' : undefined} disabled={action.busy}>{next === 'SUSPENDED' ? 'Suspend' : 'Reactivate'}</button>
      </form>
    </Card>
  );
}
