/**
 * The programme at a glance for a chosen range: programInsights' figures, drawn where a chart
 * says it faster (NPS trend, earn and burn by month, members by tier and stage, Pareto,
 * liability), and the members at risk of leaving, each a link to their page.
 */
import { useState } from 'react';
import { Card, Field, Figure, Loading, Select, format, useQuery } from '../ui';
import { ChartView, PALETTE } from '../chart';

/** The monthly series (points earned, spent, expired and outstanding), asked apart: the rest of the page need not wait for its pass over the ledger. */
const MONTHLY = `query ConsoleMonthlyPoints($from: DateTime!, $to: DateTime!, $tier: String) {
  programInsights(from: $from, to: $to, tier: $tier) { pointsByMonth { month issued redeemed expired outstanding } }
}`;

interface MonthPoints { month: string; issued: number; redeemed: number; expired: number; outstanding: number }

const INSIGHTS = `query ConsoleInsights($from: DateTime!, $to: DateTime!, $tier: String) {
  program { currency pointsName tiers { code name } }
  programInsights(from: $from, to: $to, tier: $tier) {
    nps { score responses promoters passives detractors monthly { month score responses } }
    repeatPurchaseRate
    pareto { buyers topBuyers topShare revenue }
    membersByTier { key count }
    membersByStage { key count }
    churnRisk { key count }
    atRisk(first: 10) { id externalId name email loyalty { recencyDays monetary churnReasons } }
    complaints { filed resolved open medianHoursToResolve resolvedWithinSla }
    points { issued redeemed expired outstanding liabilityValue breakageRate }
  }
}`;

interface Count { key: string; count: number }
interface Insights {
  program: { currency: string; pointsName: string; tiers: { code: string; name: string }[] };
  programInsights: {
    nps: { score: number | null; responses: number; promoters: number; passives: number; detractors: number; monthly: { month: string; score: number | null; responses: number }[] };
    repeatPurchaseRate: number | null;
    pareto: { buyers: number; topBuyers: number; topShare: number | null; revenue: string };
    membersByTier: Count[]; membersByStage: Count[]; churnRisk: Count[];
    atRisk: { id: string; externalId: string; name: string | null; email: string | null; loyalty: { recencyDays: number | null; monetary: string; churnReasons: string[] } }[];
    complaints: { filed: number; resolved: number; open: number; medianHoursToResolve: number | null; resolvedWithinSla: number | null };
    points: { issued: number; redeemed: number; expired: number; outstanding: number; liabilityValue: string; breakageRate: number | null };
  };
}

const STAGES = ['SUSPECT', 'PROSPECT', 'FIRST_TIME', 'REPEAT', 'ADVOCATE'];

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

const YEAR_MS = 365 * 86_400_000;

export function Dashboard() {
  const today = new Date();
  // The 365 days up to now, by default: the range the loyalty summary answers at once (docs/insights.md).
  const [period, setPeriod] = useState<'year' | 'days'>('year');
  const [yearTo, setYearTo] = useState(() => new Date());
  const [from, setFrom] = useState(() => isoDay(new Date(Date.UTC(today.getUTCFullYear() - 1, today.getUTCMonth() + 1, 1))));
  const [to, setTo] = useState(() => isoDay(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1))));
  const [tier, setTier] = useState('');
  const range = period === 'year'
    ? { from: new Date(yearTo.getTime() - YEAR_MS).toISOString(), to: yearTo.toISOString(), tier: tier || null }
    : { from: `${from}T00:00:00Z`, to: `${to}T00:00:00Z`, tier: tier || null };
  const skip = period === 'days' && (!from || !to);
  const state = useQuery<Insights>(INSIGHTS, range, { skip });
  const monthly = useQuery<{ programInsights: { pointsByMonth: MonthPoints[] } }>(MONTHLY, range, { skip });
  return (
    <>
      <form className="toolbar" aria-label="Range" onSubmit={(e) => e.preventDefault()}>
        <Select label="Period" value={period} onChange={(value) => { setPeriod(value as 'year' | 'days'); setYearTo(new Date()); }}
          options={[{ value: 'year', label: 'The 365 days up to now' }, { value: 'days', label: 'Chosen days' }]} />
        {period === 'days' && (
          <>
            <Field label="From (UTC day)" type="date" value={from} onChange={setFrom} />
            <Field label="To (UTC day, not included)" type="date" value={to} onChange={setTo} />
          </>
        )}
        <Select label="Tier" value={tier} onChange={(value) => { setTier(value); setYearTo(new Date()); }} options={[{ value: '', label: 'All tiers' }, ...(state.data?.program.tiers ?? []).map((t) => ({ value: t.code, label: t.name }))]} />
      </form>
      <Loading state={state}>
        {({ programInsights: i, program }) => (
          <>
            <div className="figures" aria-label="Key figures">
              <Figure label="NPS" value={i.nps.score === null ? '—' : Math.round(i.nps.score)} detail={`${i.nps.responses} responses`} />
              <Figure label="Repeat purchase rate" value={format.percent(i.repeatPurchaseRate)} />
              <Figure label="Points issued" value={format.points(i.points.issued)} detail={`${format.points(i.points.redeemed)} redeemed, ${format.points(i.points.expired)} expired`} />
              <Figure label="Outstanding points" value={format.points(i.points.outstanding)} detail={`liability ${i.points.liabilityValue} ${program.currency}`} />
              <Figure label="Breakage" value={format.percent(i.points.breakageRate)} />
              <Figure label="Open complaints" value={i.complaints.open} detail={`${format.percent(i.complaints.resolvedWithinSla)} resolved within SLA`} />
            </div>
            <div className="grid-2">
              <Card title="NPS by month">
                <ChartView label={`NPS by month: ${i.nps.monthly.map((m) => `${m.month} ${m.score === null ? 'no answers' : Math.round(m.score)}`).join(', ') || 'no answers in range'}`}
                  config={{ type: 'line', data: { labels: i.nps.monthly.map((m) => m.month), datasets: [{ label: 'NPS', data: i.nps.monthly.map((m) => m.score), borderColor: PALETTE[0], backgroundColor: PALETTE[0], spanGaps: true }] },
                    options: { scales: { y: { min: -100, max: 100 } } } }} />
                <p className="small muted">{i.nps.promoters} promoters · {i.nps.passives} passives · {i.nps.detractors} detractors</p>
              </Card>
              <Card title="Points earned and spent by month">
                <Loading state={monthly}>
                  {({ programInsights: { pointsByMonth: rows } }) => (
                    <ChartView label={`Points by month: ${rows.map((r) => `${r.month} issued ${r.issued}, redeemed ${r.redeemed}`).join('; ')}`}
                      config={{ type: 'bar', data: { labels: rows.map((r) => r.month), datasets: [
                        { label: 'Issued', data: rows.map((r) => r.issued), backgroundColor: PALETTE[1] },
                        { label: 'Redeemed', data: rows.map((r) => r.redeemed), backgroundColor: PALETTE[0] },
                        { label: 'Expired', data: rows.map((r) => r.expired), backgroundColor: PALETTE[2] },
                      ] } }} />
                  )}
                </Loading>
              </Card>
              <Card title="Members by tier">
                <ChartView label={`Members by tier: ${i.membersByTier.map((c) => `${c.key} ${c.count}`).join(', ')}`}
                  config={{ type: 'doughnut', data: { labels: i.membersByTier.map((c) => c.key), datasets: [{ data: i.membersByTier.map((c) => c.count), backgroundColor: PALETTE }] } }} />
              </Card>
              <Card title="Members by loyalty stage">
                <ChartView label={`Members by stage: ${i.membersByStage.map((c) => `${c.key} ${c.count}`).join(', ')}`}
                  config={{ type: 'bar', data: { labels: STAGES, datasets: [{ label: 'Members', data: STAGES.map((s) => i.membersByStage.find((c) => c.key === s)?.count ?? 0), backgroundColor: PALETTE[4] }] },
                    options: { indexAxis: 'y', plugins: { legend: { display: false } } } }} />
              </Card>
              <Card title="Pareto: who brings the revenue">
                <ChartView label={`The top ${i.pareto.topBuyers} of ${i.pareto.buyers} buyers brought ${format.percent(i.pareto.topShare)} of ${i.pareto.revenue} ${program.currency}`}
                  config={{ type: 'line', data: {
                    labels: ['0 %', '20 %', '100 %'],
                    datasets: [
                      { label: 'Share of revenue', data: i.pareto.topShare === null ? [] : [0, Math.round(i.pareto.topShare * 100), 100], borderColor: PALETTE[3], backgroundColor: 'rgba(220,38,38,0.12)', fill: true },
                      { label: 'Even spread', data: [0, 20, 100], borderColor: '#94a3b8', borderDash: [4, 4], pointRadius: 0 },
                    ] }, options: { scales: { y: { min: 0, max: 100, title: { display: true, text: '% of revenue' } }, x: { title: { display: true, text: '% of buyers, biggest first' } } } } }} />
                <p className="small muted">Top {i.pareto.topBuyers} of {i.pareto.buyers} buyers: {format.percent(i.pareto.topShare)} of {i.pareto.revenue} {program.currency}.</p>
              </Card>
              <Card title="Liability: points outstanding">
                <Loading state={monthly}>
                  {({ programInsights: { pointsByMonth: rows } }) => (
                    <ChartView label={`Outstanding points at each month end: ${rows.map((r) => `${r.month} ${r.outstanding}`).join(', ')}`}
                      config={{ type: 'line', data: { labels: rows.map((r) => r.month), datasets: [{ label: `Outstanding (${program.pointsName})`, data: rows.map((r) => r.outstanding), borderColor: PALETTE[5], backgroundColor: 'rgba(8,145,178,0.12)', fill: true }] } }} />
                  )}
                </Loading>
                <p className="small muted">Now {format.points(i.points.outstanding)} {program.pointsName}, worth {i.points.liabilityValue} {program.currency}.</p>
              </Card>
            </div>
            <Card title="Members at risk of leaving">
              {i.atRisk.length === 0 ? <p className="muted">No member is at high risk.</p> : (
                <div className="table-wrap">
                  <table aria-label="Members at risk">
                    <thead><tr><th scope="col">Member</th><th scope="col" className="num">Days since last purchase</th><th scope="col" className="num">Spend, 365 days</th><th scope="col">Why</th></tr></thead>
                    <tbody>
                      {i.atRisk.map((m) => (
                        <tr key={m.id}>
                          <td><a href={`#/members/${m.id}`}>{m.name ?? m.email ?? m.externalId}</a></td>
                          <td className="num">{m.loyalty.recencyDays ?? '—'}</td>
                          <td className="num">{m.loyalty.monetary} {program.currency}</td>
                          <td className="small">{m.loyalty.churnReasons.join('; ')}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </Card>
          </>
        )}
      </Loading>
    </>
  );
}
