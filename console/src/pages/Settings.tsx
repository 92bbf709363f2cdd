/** Programme settings and the tier ladder. */
import { useEffect, useState } from 'react';
import { gql } from '../api';
import { Card, Check, ErrorMessage, Field, Loading, Notice, Select, toInt, useAction, useQuery } from '../ui';

const PROGRAM = `query ConsoleProgram {
  program {
    name pointsName currency earnRate pendingDays allowNegativeBalance pointValue timezone complaintSlaHours
    expiry { mode months roundToQuarterEnd }
    tiers { code name rank qualifyingPointsRequired earnMultiplier qualifyingSpendRequired qualifyingPurchasesRequired thresholdMatch
      perks rewardCodes invitationOnly lifetimeQualifyingPointsRequired }
  }
}`;
const UPDATE = `mutation ConsoleUpdateProgram($input: UpdateProgramInput!) { updateProgram(input: $input) { name } }`;
const SET_TIERS = `mutation ConsoleSetTiers($tiers: [TierInput!]!) { setTiers(tiers: $tiers) { code } }`;

interface Tier {
  code: string; name: string; rank: number; qualifyingPointsRequired: number; earnMultiplier: number; qualifyingSpendRequired: string | null;
  qualifyingPurchasesRequired: number | null; thresholdMatch: string; perks: string[]; rewardCodes: string[]; invitationOnly: boolean;
  lifetimeQualifyingPointsRequired: number | null;
}
interface Program {
  name: string; pointsName: string; currency: string; earnRate: string; pendingDays: number; allowNegativeBalance: boolean; pointValue: string;
  timezone: string; complaintSlaHours: number; expiry: { mode: string; months: number | null; roundToQuarterEnd: boolean }; tiers: Tier[];
}

export function Settings() {
  const state = useQuery<{ program: Program }>(PROGRAM);
  return (
    <Loading state={state}>
      {({ program }) => (
        <>
          <ProgramForm program={program} onSaved={state.reload} />
          <TierLadder tiers={program.tiers} onSaved={state.reload} />
        </>
      )}
    </Loading>
  );
}

function ProgramForm({ program, onSaved }: { program: Program; onSaved: () => void }) {
  const initial = () => ({
    name: program.name, pointsName: program.pointsName, currency: program.currency, earnRate: program.earnRate, pendingDays: String(program.pendingDays),
    pointValue: program.pointValue, timezone: program.timezone, complaintSlaHours: String(program.complaintSlaHours), allowNegativeBalance: program.allowNegativeBalance,
    expiryMode: program.expiry.mode, expiryMonths: program.expiry.months?.toString() ?? '', roundToQuarterEnd: program.expiry.roundToQuarterEnd,
  });
  const [d, setD] = useState(initial);
  useEffect(() => setD(initial()), [program]);
  const set = <K extends keyof ReturnType<typeof initial>>(key: K) => (value: ReturnType<typeof initial>[K]) => setD((x) => ({ ...x, [key]: value }));
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const err = action.fieldError;
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const input = {
      name: d.name.trim(), pointsName: d.pointsName.trim(), currency: d.currency.trim(), earnRate: d.earnRate.trim(), pendingDays: toInt(d.pendingDays),
      pointValue: d.pointValue.trim(), timezone: d.timezone.trim(), complaintSlaHours: toInt(d.complaintSlaHours), allowNegativeBalance: d.allowNegativeBalance,
      expiry: { mode: d.expiryMode, months: d.expiryMode === 'NONE' ? null : toInt(d.expiryMonths), roundToQuarterEnd: d.roundToQuarterEnd },
    };
    if (await action.run(() => gql(UPDATE, { input }))) { setSaved(true); onSaved(); }
  };
  return (
    <Card title="Programme">
      <form onSubmit={submit} noValidate>
        <div className="grid-3 tight">
          <Field label="Programme name" value={d.name} onChange={set('name')} error={err('name')} />
          <Field label="Points are called" value={d.pointsName} onChange={set('pointsName')} error={err('pointsName')} />
          <Field label="Currency (ISO 4217)" value={d.currency} onChange={set('currency')} error={err('currency')} />
          <Field label="Earn rate (points per unit)" value={d.earnRate} onChange={set('earnRate')} error={err('earnRate')} />
          <Field label="Value of one point" value={d.pointValue} onChange={set('pointValue')} error={err('pointValue')} />
          <Field label="Pending days" type="number" value={d.pendingDays} onChange={set('pendingDays')} error={err('pendingDays')} />
          <Field label="Time zone (IANA)" value={d.timezone} onChange={set('timezone')} error={err('timezone')} />
          <Field label="Complaint SLA (hours)" type="number" value={d.complaintSlaHours} onChange={set('complaintSlaHours')} error={err('complaintSlaHours')} />
          <Select label="Points expire" value={d.expiryMode} onChange={set('expiryMode')} error={err('expiry.mode')} options={[
            { value: 'NONE', label: 'Never' }, { value: 'FIXED', label: 'A fixed time after earning' }, { value: 'INACTIVITY', label: 'After inactivity' },
          ]} />
          {d.expiryMode !== 'NONE' && <Field label="Expiry months" type="number" value={d.expiryMonths} onChange={set('expiryMonths')} error={err('expiry.months')} />}
        </div>
        {d.expiryMode === 'FIXED' && <Check label="Round expiry to the end of the quarter" checked={d.roundToQuarterEnd} onChange={set('roundToQuarterEnd')} />}
        <Check label="Clawbacks may take a balance below zero" checked={d.allowNegativeBalance} onChange={set('allowNegativeBalance')} />
        <ErrorMessage error={action.formError} />
        {saved && <Notice>Programme saved.</Notice>}
        <button type="submit" disabled={action.busy}>Save programme</button>
      </form>
    </Card>
  );
}

interface TierRow extends Omit<Tier, 'rank' | 'qualifyingPointsRequired' | 'earnMultiplier' | 'perks'> {
  rank: string; qualifyingPointsRequired: string; earnMultiplier: string; perks: string;
}

const toRow = (t: Tier): TierRow => ({ ...t, rank: String(t.rank), qualifyingPointsRequired: String(t.qualifyingPointsRequired), earnMultiplier: String(t.earnMultiplier), perks: t.perks.join(', ') });

function TierLadder({ tiers, onSaved }: { tiers: Tier[]; onSaved: () => void }) {
  const [rows, setRows] = useState<TierRow[]>(() => tiers.map(toRow));
  useEffect(() => setRows(tiers.map(toRow)), [tiers]);
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const change = (i: number, key: keyof TierRow) => (value: string) => setRows((rs) => rs.map((r, j) => (j === i ? { ...r, [key]: value } : r)));
  const add = () => setRows((rs) => [...rs, {
    code: '', name: '', rank: String(rs.length), qualifyingPointsRequired: '', earnMultiplier: '1', qualifyingSpendRequired: null,
    qualifyingPurchasesRequired: null, thresholdMatch: 'ANY', perks: '', rewardCodes: [], invitationOnly: false, lifetimeQualifyingPointsRequired: null,
  }]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const input = rows.map((r) => ({
      ...r, rank: toInt(r.rank), qualifyingPointsRequired: toInt(r.qualifyingPointsRequired), earnMultiplier: Number(r.earnMultiplier),
      perks: r.perks.split(',').map((p) => p.trim()).filter(Boolean), code: r.code.trim(), name: r.name.trim(),
    }));
    if (await action.run(() => gql(SET_TIERS, { tiers: input }))) { setSaved(true); onSaved(); }
  };
  return (
    <Card title="Tier ladder">
      <form onSubmit={submit} noValidate>
        <p className="muted">Ordered by rank; the lowest rank needs 0 qualifying points. Saving replaces the whole ladder.</p>
        <div className="table-wrap">
          <table aria-label="Tiers">
            <thead><tr><th scope="col">Code</th><th scope="col">Name</th><th scope="col">Rank</th><th scope="col">Qualifying points</th><th scope="col">Earn multiplier</th><th scope="col">Perks (comma-separated)</th><th scope="col"><span className="visually-hidden">Remove</span></th></tr></thead>
            <tbody>
              {rows.map((r, i) => {
                const which = r.name || r.code || `tier ${i + 1}`;
                return (
                  <tr key={i}>
                    <td><input aria-label={`Code of ${which}`} value={r.code} onChange={(e) => change(i, 'code')(e.target.value)} /></td>
                    <td><input aria-label={`Name of ${which}`} value={r.name} onChange={(e) => change(i, 'name')(e.target.value)} /></td>
                    <td><input aria-label={`Rank of ${which}`} type="number" value={r.rank} onChange={(e) => change(i, 'rank')(e.target.value)} /></td>
                    <td><input aria-label={`Qualifying points of ${which}`} type="number" value={r.qualifyingPointsRequired} onChange={(e) => change(i, 'qualifyingPointsRequired')(e.target.value)} /></td>
                    <td><input aria-label={`Earn multiplier of ${which}`} value={r.earnMultiplier} onChange={(e) => change(i, 'earnMultiplier')(e.target.value)} /></td>
                    <td><input aria-label={`Perks of ${which}`} value={r.perks} onChange={(e) => change(i, 'perks')(e.target.value)} /></td>
                    <td><button type="button" className="ghost" onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))} aria-label={`Remove ${which}`}>Remove</button></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <ErrorMessage error={action.error} />
        {saved && <Notice>Tier ladder saved.</Notice>}
        <div className="form-actions">
          <button type="button" className="ghost" onClick={add}>Add a tier</button>
          <button type="submit" disabled={action.busy}>Save ladder</button>
        </div>
      </form>
    </Card>
  );
}
