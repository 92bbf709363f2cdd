/** One member: balance, expiring points, tier progress, switching cost, statement and actions. */
import { useState } from 'react';
import { Card, Figure, Loading, format, useQuery } from '../ui';
import { MemberActions } from './MemberActions';
import { Statement } from './Statement';
import { Redemptions } from './Redemptions';
import { MemberLoyalty } from './MemberLoyalty';

const MEMBER = `query ConsoleMember($id: ID!) {
  program { currency pointsName tiers { code name rank invitationOnly } }
  member(id: $id) {
    id externalId name email phone status enrolledAt referralCode tags
    balance { available pending lifetimeEarned lifetimeRedeemed expired expiringSoon(days: 90) { points expiresAt } }
    tier { current { code name } since validUntil qualifyingPoints nextTier { name } pointsToNextTier assignedTier { name } assignedUntil }
    switchingCost { redeemableValue currency nextTierProgressPercent streakLength perks lifetimeQualifyingPoints nextMilestone { name } pointsToNextMilestone }
  }
}`;

export interface MemberData {
  program: { currency: string; pointsName: string; tiers: { code: string; name: string; rank: number; invitationOnly: boolean }[] };
  member: {
    id: string; externalId: string; name: string | null; email: string | null; phone: string | null; status: string;
    enrolledAt: string; referralCode: string; tags: string[];
    balance: { available: number; pending: number; lifetimeEarned: number; lifetimeRedeemed: number; expired: number; expiringSoon: { points: number; expiresAt: string }[] };
    tier: { current: { code: string; name: string }; since: string; validUntil: string | null; qualifyingPoints: number; nextTier: { name: string } | null;
      pointsToNextTier: number | null; assignedTier: { name: string } | null; assignedUntil: string | null };
    switchingCost: { redeemableValue: string; currency: string; nextTierProgressPercent: number | null; streakLength: number; perks: string[];
      lifetimeQualifyingPoints: number; nextMilestone: { name: string } | null; pointsToNextMilestone: number | null };
  } | null;
}

export function MemberPage({ id }: { id: string }) {
  const [version, setVersion] = useState(0);
  const state = useQuery<MemberData>(MEMBER, { id }, { version });
  const changed = () => setVersion((v) => v + 1);
  return (
    <Loading state={state}>
      {({ member, program }) => {
        if (!member) return <p className="error" role="alert">No member with id {id}.</p>;
        const b = member.balance;
        const t = member.tier;
        const progress = member.switchingCost.nextTierProgressPercent;
        return (
          <div className="member">
            <p className="lede">
              <strong>{member.name ?? member.externalId}</strong> · {member.externalId}{member.email && ` · ${member.email}`}
              {' · '}<span className={`badge ${member.status.toLowerCase()}`}>{member.status}</span>
              {' · '}member since {format.day(member.enrolledAt)}{member.tags.length > 0 && ` · tags: ${member.tags.join(', ')}`}
            </p>
            <div className="figures">
              <Figure label="Available" value={format.points(b.available)} detail={`${program.pointsName}, worth ${member.switchingCost.redeemableValue} ${member.switchingCost.currency}`} />
              <Figure label="Pending" value={format.points(b.pending)} />
              <Figure label="Earned, all time" value={format.points(b.lifetimeEarned)} />
              <Figure label="Redeemed, all time" value={format.points(b.lifetimeRedeemed)} />
              <Figure label="Expired" value={format.points(b.expired)} />
            </div>
            <div className="grid-2">
              <Card title="Tier">
                <p><strong>{t.current.name}</strong> since {format.day(t.since)}{t.validUntil && `, held until ${format.day(t.validUntil)}`}</p>
                {t.assignedTier && <p>Assigned {t.assignedTier.name} until {format.day(t.assignedUntil)}.</p>}
                <p>{format.points(t.qualifyingPoints)} qualifying points in the window.</p>
                {t.nextTier && progress !== null && (
                  <>
                    <label className="progress-label" htmlFor="tier-progress">{format.points(t.pointsToNextTier)} more to {t.nextTier.name}</label>
                    <progress id="tier-progress" max={100} value={progress}>{progress} %</progress>
                  </>
                )}
              </Card>
              <Card title="Expiring in the next 90 days">
                {b.expiringSoon.length === 0 ? <p className="muted">Nothing expires in the next 90 days.</p> : (
                  <ul className="plain">{b.expiringSoon.map((e) => <li key={e.expiresAt}>{format.points(e.points)} on {format.day(e.expiresAt)}</li>)}</ul>
                )}
              </Card>
              <Card title="What leaving would cost">
                <ul className="plain">
                  <li>{member.switchingCost.redeemableValue} {member.switchingCost.currency} of spendable points</li>
                  <li>{t.current.name} status{member.switchingCost.perks.length > 0 && `: ${member.switchingCost.perks.join(', ')}`}</li>
                  <li>A streak of {member.switchingCost.streakLength} period{member.switchingCost.streakLength === 1 ? '' : 's'}</li>
                  {member.switchingCost.nextMilestone && <li>{format.points(member.switchingCost.pointsToNextMilestone)} points from the “{member.switchingCost.nextMilestone.name}” milestone</li>}
                </ul>
              </Card>
            </div>
            <MemberLoyalty memberId={member.id} currency={program.currency} version={version} onChanged={changed} />
            <MemberActions member={member} tiers={program.tiers} onChanged={changed} />
            <Statement memberId={member.id} version={version} />
            <Redemptions memberId={member.id} version={version} onChanged={changed} />
          </div>
        );
      }}
    </Loading>
  );
}
