/** A member's loyalty profile (RFM, stage, health, churn risk), survey answers and complaints. */
import { useState } from 'react';
import { actionKey, gql } from '../api';
import { Card, ErrorMessage, Field, Loading, format, toInt, useAction, useQuery } from '../ui';

const LOYALTY = `query ConsoleMemberLoyalty($id: ID!) {
  member(id: $id) {
    loyalty {
      recencyDays frequency monetary purchaseCount repeatPurchases avgDaysBetweenPurchases channels referralsMade
      complaintsFiled complaintsOpen lastNps npsCategory stage health churnRisk churnReasons asOf
      rfm { recency frequency monetary segment }
    }
    surveyResponses(first: 10) { id score category comment channel createdAt }
    complaints(first: 20) { id category description channel status resolution goodwillPoints createdAt resolvedAt pastSla }
  }
}`;
const RESOLVE = `mutation ConsoleResolveComplaint($input: ResolveComplaintInput!) { resolveComplaint(input: $input) { id status goodwillPoints } }`;

interface Complaint {
  id: string; category: string; description: string; channel: string | null; status: string; resolution: string | null; goodwillPoints: number;
  createdAt: string; resolvedAt: string | null; pastSla: boolean;
}
interface LoyaltyData {
  member: {
    loyalty: {
      recencyDays: number | null; frequency: number; monetary: string; purchaseCount: number; repeatPurchases: number; avgDaysBetweenPurchases: number | null;
      channels: string[]; referralsMade: number; complaintsFiled: number; complaintsOpen: number; lastNps: number | null; npsCategory: string | null;
      stage: string; health: string; churnRisk: string; churnReasons: string[]; asOf: string;
      rfm: { recency: number; frequency: number; monetary: number; segment: string } | null;
    };
    surveyResponses: { id: string; score: number; category: string; comment: string | null; channel: string | null; createdAt: string }[];
    complaints: Complaint[];
  } | null;
}

const words = (code: string) => code.charAt(0) + code.slice(1).toLowerCase().replace(/_/g, ' ');

export function MemberLoyalty({ memberId, currency, version, onChanged }: { memberId: string; currency: string; version: number; onChanged: () => void }) {
  const state = useQuery<LoyaltyData>(LOYALTY, { id: memberId }, { version });
  return (
    <Loading state={state}>
      {({ member }) => {
        if (!member) return null;
        const l = member.loyalty;
        return (
          <>
            <Card title="Loyalty profile">
              <p>
                <span className="badge">{words(l.stage)}</span>{' '}
                health <span className={`badge ${l.health.toLowerCase()}`}>{words(l.health)}</span>{' '}
                churn risk <span className={`badge ${l.churnRisk.toLowerCase()}`}>{words(l.churnRisk)}</span>
                {l.rfm && <> · RFM {l.rfm.recency}-{l.rfm.frequency}-{l.rfm.monetary} <strong>{l.rfm.segment}</strong></>}
              </p>
              {l.churnReasons.length > 0 && <p className="small">{l.churnReasons.join('; ')}</p>}
              <dl className="facts">
                <div><dt>Last purchase</dt><dd>{l.recencyDays === null ? 'never' : `${l.recencyDays} days ago`}</dd></div>
                <div><dt>Purchases, 365 days</dt><dd>{l.frequency} ({l.monetary} {currency})</dd></div>
                <div><dt>Purchases, all time</dt><dd>{l.purchaseCount} ({l.repeatPurchases} repeat)</dd></div>
                <div><dt>Average gap</dt><dd>{l.avgDaysBetweenPurchases === null ? '—' : `${Math.round(l.avgDaysBetweenPurchases)} days`}</dd></div>
                <div><dt>Channels</dt><dd>{l.channels.join(', ') || '—'}</dd></div>
                <div><dt>Referrals made</dt><dd>{l.referralsMade}</dd></div>
                <div><dt>Last NPS answer</dt><dd>{l.lastNps === null ? '—' : `${l.lastNps} (${words(l.npsCategory ?? '')})`}</dd></div>
                <div><dt>Complaints</dt><dd>{l.complaintsFiled} filed, {l.complaintsOpen} open</dd></div>
              </dl>
              <p className="small muted">Stage, health and risk as of {format.when(l.asOf)}.</p>
            </Card>
            <div className="grid-2">
              <Card title="Survey answers">
                {member.surveyResponses.length === 0 ? <p className="muted">No survey answers.</p> : (
                  <ul className="plain">
                    {member.surveyResponses.map((s) => <li key={s.id}><strong>{s.score}</strong> ({words(s.category)}) on {format.day(s.createdAt)}{s.comment && `: “${s.comment}”`}</li>)}
                  </ul>
                )}
              </Card>
              <Card title="Complaints">
                {member.complaints.length === 0 ? <p className="muted">No complaints.</p> : (
                  <ul className="plain complaints">
                    {member.complaints.map((c) => <ComplaintItem key={c.id} complaint={c} onResolved={onChanged} />)}
                  </ul>
                )}
              </Card>
            </div>
          </>
        );
      }}
    </Loading>
  );
}

function ComplaintItem({ complaint: c, onResolved }: { complaint: Complaint; onResolved: () => void }) {
  const [resolution, setResolution] = useState('');
  const [goodwill, setGoodwill] = useState('');
  const [key] = useState(() => actionKey('resolve'));
  const action = useAction();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const input = { id: c.id, resolution: resolution.trim(), goodwillPoints: toInt(goodwill) ?? 0, idempotencyKey: key };
    if (await action.run(() => gql(RESOLVE, { input }))) onResolved();
  };
  return (
    <li>
      <p><strong>{c.category}</strong> · {format.when(c.createdAt)}{c.channel && ` · ${c.channel}`} · {c.status === 'OPEN' ? 'open' : `resolved ${format.when(c.resolvedAt)}`}
        {c.pastSla && <span className="badge high"> past SLA</span>}</p>
      <p>{c.description}</p>
      {c.status === 'RESOLVED' && <p className="small">{c.resolution}{c.goodwillPoints > 0 && ` · ${c.goodwillPoints} goodwill points`}</p>}
      {c.status === 'OPEN' && (
        <form onSubmit={submit} aria-label={`Resolve the ${c.category} complaint`}>
          <Field label="Resolution" value={resolution} onChange={setResolution} required error={action.fieldError('resolution')} />
          <Field label="Goodwill points" type="number" value={goodwill} onChange={setGoodwill} error={action.fieldError('goodwillPoints')} />
          <ErrorMessage error={action.formError} />
          <button type="submit" disabled={action.busy}>Resolve</button>
        </form>
      )}
    </li>
  );
}
